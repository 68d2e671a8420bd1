"""Print the import counts of the pydicom corpus and the seeded fuzz corpus (imported / refused / crashed).

Run: ``READERSTUDY_LOG=/tmp/rs.log .venv/bin/python tests/services/corpus_counts.py [SEEDS...]``
(default seed 17, the one ``test_import_robustness.py`` uses). "Crashed" counts refusals caused by an
unexpected exception (a bug); an exception escaping the import (an aborted run) would stop this script.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from readerstudy.services.auth import local_session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_corpus import build_fuzz_corpus  # noqa: E402
from pydicom.data import get_testdata_files  # noqa: E402

from readerstudy.services.context import open_context  # noqa: E402
from readerstudy.services.importing import CaseSource, import_cases  # noqa: E402

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def main(seeds: list[int]) -> None:
    tmp = Path(tempfile.mkdtemp())
    ctx = open_context(tmp / "db.sqlite")
    files = [Path(f) for f in get_testdata_files() if os.path.isfile(f)]
    r = import_cases(ctx, LOCAL, "pydicom", [CaseSource(f"{i}:{f.name}", f) for i, f in enumerate(files)])
    print(f"pydicom corpus: {len(files)} files: imported {len(r.imported)}, refused {len(r.refused)}, "
          f"crashed {r.crashed}")
    for seed in seeds:
        fz = build_fuzz_corpus(tmp / f"fuzz{seed}", seed=seed)
        r = import_cases(ctx, LOCAL, f"fuzz{seed}", [CaseSource(f.name, f) for f in fz])
        print(f"fuzz corpus seed {seed}: {len(fz)} files: imported {len(r.imported)}, refused {len(r.refused)}, "
              f"crashed {r.crashed}")
    ctx.close()


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [17])
