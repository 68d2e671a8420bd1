"""Reports on real databases in states that used to fail the whole report: a study imported without
ground truth ("min() arg is an empty sequence") and an interim study where a reader has read one
case ("y_true has no case equal to positive=1"), through the CLI with --arm and the protocol's reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.metrics import cohen_kappa_score

from readerstudy.cli.app import main
from readerstudy.core.models import Role
from readerstudy.core.protocol import parse_protocol
from readerstudy.core.reading import ManualClock
from readerstudy.reports import na as NA
from readerstudy.services.assignments import apply_protocol
from readerstudy.services.auth import add_participant, local_session, sign_in, system_session
from readerstudy.services.demo import BUSI_STUDY
from readerstudy.services.importing import CaseSource, import_cases
from readerstudy.services.reading import ReadingService
from readerstudy.services.reporting import export_report
from readerstudy.services.simulate import simulate_readers
from readerstudy.storage.db import sqlite_path

UNAIDED = 'seed = 7\n{extra}\n[[arms]]\nname = "unaided"\n'


LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def test_study_imported_without_truth_reports_agreement_and_says_why_accuracy_is_missing(ctx, tmp_path):
    sources = []
    for i in range(6):
        path = tmp_path / f"img{i}.png"
        Image.fromarray((np.random.default_rng(i).random((32, 32)) * 255).astype(np.uint8)).save(path)
        sources.append(CaseSource(f"case{i}", path, ()))
    assert len(import_cases(ctx, LOCAL, "No truth", sources).imported) == 6
    coord = system_session(ctx, "No truth", actor="test")
    for name, sen in (("Dr A", "senior"), ("Dr B", "junior")):
        add_participant(ctx, coord, name, Role.READER, "0000", seniority=sen)
    apply_protocol(ctx, coord, parse_protocol(UNAIDED.format(extra="")))
    assert simulate_readers(ctx, LOCAL, "No truth", 2, seed=1).reads == 12
    files = export_report(ctx, LOCAL, "No truth", tmp_path / "out")
    d = json.loads(files.json.read_text())
    assert {r["auc"]["na"] for r in d["tables"]["accuracy"]["rows"]} == {NA.NO_TRUTH}
    assert {r["accuracy"]["na"] for r in d["tables"]["accuracy"]["rows"]} == {NA.NO_TRUTH}
    (pair,) = d["tables"]["kappa"]["rows"]  # agreement needs no truth: computed
    import pandas as pd

    wide = pd.read_csv(files.csv).pivot(index="case", columns="reader", values="binary")
    assert abs(pair["kappa"]["value"] - cohen_kappa_score(wide["Dr A"], wide["Dr B"])) < 1e-12
    assert d["tables"]["mcnemar"]["rows"][0]["p_value"] == {"na": NA.NO_TRUTH}
    html = files.html.read_text(encoding="utf-8")
    assert "no ground truth imported" in html and "none imported" in html and files.pdf.stat().st_size > 10_000


def _read_one(ctx, name: str) -> None:  # noqa: ANN001
    clock = ManualClock()
    svc = ReadingService(ctx, sign_in(ctx, BUSI_STUDY, name, "0000", now=clock.now), clock=clock.monotonic_ns,
                         wall_clock=clock.now, prefetch=False)
    try:
        svc.open()
        svc.start_case()
        svc.display()
        clock.advance(12.0)
        svc.submit(80.0, 1, 4, {"window": [40.0, 400.0], "zoom": 1.5, "center": [10.0, 12.5], "slice": 0,
                                "slices": 1, "preset": "soft tissue"})
    finally:
        svc.close()


def test_interim_report_with_one_read_case_and_the_protocols_reference(demo_ctx, tmp_path, capsys):
    coord = system_session(demo_ctx, BUSI_STUDY, actor="test")
    apply_protocol(demo_ctx, coord, parse_protocol(UNAIDED.format(extra='reference = "Mid-level radiologist"')))
    _read_one(demo_ctx, "Senior radiologist")
    db = str(sqlite_path(demo_ctx.url))
    demo_ctx.close()
    out = tmp_path / "rep"
    assert main(["report", "--db", db, "--study", BUSI_STUDY, "--out", str(out), "--arm", "unaided"]) == 0
    d = json.loads((out / "report.json").read_text())
    (row,) = d["tables"]["accuracy"]["rows"]
    assert row["n"] == 1 and row["auc"]["na"] in (NA.ONLY_NEGATIVE, NA.ONLY_POSITIVE)
    assert d["tables"]["kappa"]["na"] == NA.FEWER_THAN_2_READERS
    assert d["tables"]["reference_na"] == "Mid-level radiologist has not read the unaided arm yet"
    assert d["meta"]["status"] == "Interim report: 1 of 237 assigned reads made (0%)"
    csv = (out / "reads.csv").read_text().splitlines()
    header, first = csv[0].split(","), dict(zip(csv[0].split(","), csv[1].split(","), strict=True))
    assert {"view_window_center", "view_window_width", "view_zoom", "view_preset", "view_slice"} <= set(header)
    assert (first["view_window_center"], first["view_window_width"], first["view_zoom"]) == ("40.0", "400.0", "1.5")
    assert first["view_preset"] == "soft tissue" and first["view_center_y"] == "12.5"
    capsys.readouterr()
    assert main(["report", "--db", db, "--study", BUSI_STUDY, "--out", str(out), "--reference", "Nobody"]) == 3
    assert "Nobody" in capsys.readouterr().err
    assert Path(out / "report.pdf").is_file()
