"""Run every ``benchmarks/bench_*.py`` and print each figure as a ratio against its named baseline.

Each module exposes ``run() -> list[dict]`` with rows
``{"name", "value", "unit", "baseline", "baseline_value", "ratio"}`` measured in the same run.
``python benchmarks/run.py [NAME ...]`` runs only the modules whose name contains NAME.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    rows: list[dict] = []
    for path in sorted(HERE.glob("bench_*.py")):
        if argv and not any(a in path.stem for a in argv):
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = mod
        spec.loader.exec_module(mod)
        t0 = time.perf_counter()
        print(f"== {path.stem}", flush=True)
        for row in mod.run():
            row = {"module": path.stem, **row}
            rows.append(row)
            print(f"  {row['name']}: {row['value']:.4g} {row['unit']}  vs {row['baseline']}: "
                  f"{row['baseline_value']:.4g}  -> ratio {row['ratio']:.3g}", flush=True)
        print(f"   ({time.perf_counter() - t0:.1f} s)")
    out = HERE / "results.json"
    out.write_text(json.dumps(rows, indent=2, default=float))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
