"""``readerstudy report`` / ``readerstudy export`` on the demo study read by ``simulate-readers``
(unaided arm only, no model: the report falls back to the most senior reader as reference)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from pypdf import PdfReader
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from readerstudy.cli.app import main
from readerstudy.services.demo import BUSI_STUDY
from readerstudy.storage.db import sqlite_path

READERS = ["Senior radiologist", "Mid-level radiologist", "Junior radiologist"]
EXAMPLE = Path(__file__).resolve().parents[2] / "resources" / "protocols" / "example.toml"


def _unaided_protocol(tmp_path: Path) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8").split("[[arms]]")
    body = text[0].replace('design = "counterbalanced"', 'design = "all-arms-each-session"')
    body = body.replace("sessions = 2", "sessions = 1")
    path = tmp_path / "unaided.toml"
    path.write_text(body + "[[arms]]" + text[1], encoding="utf-8")
    return path


def test_report_and_export_commands(demo_ctx, tmp_path, capsys):
    db = str(sqlite_path(demo_ctx.url))
    demo_ctx.close()
    assert main(["protocol", "apply", "--db", db, "--study", BUSI_STUDY, "--file", str(_unaided_protocol(tmp_path))]) == 0
    assert main(["simulate-readers", "--db", db, "--study", BUSI_STUDY, "--readers", "3", "--seed", "3"]) == 0
    out = tmp_path / "rep"
    assert main(["report", "--db", db, "--study", BUSI_STUDY, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("report.html", "report.pdf", "report.json", "reads.csv"):
        assert (out / name).is_file() and name in printed
    d = json.loads((out / "report.json").read_text())
    df = pd.read_csv(out / "reads.csv")
    assert set(df["arm"]) == {"unaided"} and len(df) == 3 * 79 and d["meta"]["models"] == []
    assert d["meta"]["reference"] == "Senior radiologist"
    assert d["tables"]["mrmc"] == []  # one arm and no model: nothing to compare
    assert "n/a" not in json.dumps(d["tables"]["accuracy"])
    wide = df.pivot(index="case", columns="reader", values="binary")
    for p in d["tables"]["kappa"]["rows"]:
        assert abs(p["kappa"]["value"] - cohen_kappa_score(wide[p["a"]], wide[p["b"]])) < 1e-12
    for r in d["tables"]["accuracy"]["rows"]:
        g = df[df["reader"] == r["reader"]]
        assert abs(r["auc"]["value"] - roc_auc_score(g["truth"], g["probability"])) < 1e-12
    assert len(PdfReader(str(out / "report.pdf")).pages) >= 7
    # --reference and --arm are honoured; unknown ones exit 3 with one line
    out2 = tmp_path / "rep2"
    assert main(["report", "--db", db, "--study", BUSI_STUDY, "--out", str(out2),
                 "--reference", "Junior radiologist", "--arm", "unaided"]) == 0
    d2 = json.loads((out2 / "report.json").read_text())
    assert {r["reference"] for r in d2["tables"]["mcnemar"]["rows"]} == {"Junior radiologist"}
    out3 = tmp_path / "rep3"
    assert main(["report", "--db", db, "--study", BUSI_STUDY, "--out", str(out3), "--reference", "senior-consensus"]) == 0
    d3 = json.loads((out3 / "report.json").read_text())
    assert d3["tables"]["reference"] == "Senior consensus" and "Senior radiologist" in d3["tables"]["reference_how"]
    # the consensus of the one senior reader is that reader: it is not compared with itself
    assert [r["reader"] for r in d3["tables"]["mcnemar"]["rows"]] == READERS[1:]
    assert "its members are not compared with it" in d3["tables"]["reference_how"]
    capsys.readouterr()
    assert main(["report", "--db", db, "--study", BUSI_STUDY, "--out", str(out2), "--arm", "AI-aided"]) == 3
    assert "no reads" in capsys.readouterr().err
    assert main(["report", "--db", db, "--study", BUSI_STUDY, "--out", str(out2), "--reference", "Nobody"]) == 3
    # exports
    for fmt in ("imrmc", "mrmcaov", "csv", "rjafroc"):
        target = tmp_path / f"x.{fmt}"
        assert main(["export", "--db", db, "--study", BUSI_STUDY, "--format", fmt, "--out", str(target)]) == 0
        assert target.is_file() and target.stat().st_size > 0
    mv = pd.read_csv(tmp_path / "x.mrmcaov")
    assert mv[["reader", "treatment", "case", "truth", "rating"]].to_numpy().tolist() == \
        df[["reader", "arm", "case", "truth", "probability"]].to_numpy().tolist()
    im = pd.read_csv(tmp_path / "x.imrmc", dtype={"readerID": str})
    assert (im["readerID"] == "-1").sum() == 79 and len(im) == 79 + len(df)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "x.csv"), df)
    assert main(["export", "--db", db, "--study", BUSI_STUDY, "--format", "sas", "--out", "x"]) == 2
