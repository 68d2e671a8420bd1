"""A small source study with accepted synthetic images, for the realism-study tests.

Real BUSI cases imported through ``import_cases``; each gets accepted SyntheticImage rows with
32 x 32 grey PNGs in the store (inserted as :func:`readerstudy.services.synthesis.accept_variant`
stores them: PNG, checksum, generator hash, seed, class), so no generator has to run.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image
from test_reading_support import LOCAL, busi_sources

from readerstudy.core.models import Role
from readerstudy.core.protocol import parse_protocol
from readerstudy.paths import resources_dir
from readerstudy.services.assignments import apply_protocol
from readerstudy.services.auth import add_participant, scope
from readerstudy.services.context import AppContext, open_context
from readerstudy.services.importing import import_cases

SOURCE = "Source"
REALISM = "Source realism"
GEN_A, GEN_B = "a1" * 32, "b2" * 32  # generator checkpoint sha256s
SIZE = 32
PIN = "2468"


def realism_protocol():  # noqa: ANN201 - Protocol
    return parse_protocol((resources_dir() / "protocols" / "realism.toml").read_text(encoding="utf-8"))


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(0.4, 0.15, (SIZE, SIZE)), 0, 1)
    buf = io.BytesIO()
    Image.fromarray(np.rint(img * 255).astype(np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def add_accepted(ctx: AppContext, study: str, per_case: tuple[str, ...] = (GEN_A, GEN_B)) -> int:
    """Give every case of ``study`` one accepted synthetic image per generator in ``per_case``; returns the count."""
    n = 0
    with ctx.uow() as uow:
        s = uow.studies.by_name(study)
        for i, case in enumerate(uow.cases.list(s.id)):
            for j, gen in enumerate(per_case):
                data = _png(100 * i + j)
                rel = f"{s.id}/{case.pseudonym}/synthetic/{gen[:12]}-seed{j + 1}.png"
                ctx.store.path(rel).parent.mkdir(parents=True, exist_ok=True)
                ctx.store.path(rel).write_bytes(data)
                uow.synthetic.add(case_id=case.id, model_hash=gen, seed=j + 1, class_label=int(case.truth or 0),
                                  prompt="a lesion", sampler="ddim", steps=3, guidance_scale=2.0, path=rel,
                                  checksum=hashlib.sha256(data).hexdigest())
                n += 1
        uow.commit()
    return n


def source_study(path: Path, n_cases: int = 4) -> AppContext:
    """``SOURCE``: ``n_cases`` BUSI cases (benign/malignant alternating), two accepted images each."""
    ctx = open_context(path)
    report = import_cases(ctx, LOCAL, SOURCE, busi_sources(n_cases))
    assert not report.refused, report.refused
    add_accepted(ctx, SOURCE)
    return ctx


def with_readers(ctx: AppContext, study: str, readers: tuple[tuple[str, str], ...]) -> None:
    """Add readers (PIN ``PIN``) to ``study`` and apply the realism protocol."""
    system = scope(ctx, LOCAL, study)
    for name, seniority in readers:
        add_participant(ctx, system, name, Role.READER, PIN, seniority=seniority)
    apply_protocol(ctx, system, realism_protocol())
