"""The realism-study section: can readers tell real from synthetic images, and how real do they look?

A realism study (:mod:`readerstudy.services.realism_study`) mixes real images and accepted
synthetic images blind; its truth is the origin (1 = synthetic, 0 = real), the binary call means
"synthetic", the probability is the reader's probability (0-100) that the image is synthetic, and
a Likert question rates realism (1 = clearly synthetic ... 5 = indistinguishable from a real image).
The section follows the visual Turing tests of synthetic medical images: Chuquicusma et al. 2018
(IEEE ISBI, "How to fool radiologists with generative adversarial networks? A visual Turing test
for lung cancer diagnosis": readers shown real and synthetic nodules blind, each rated real or
synthetic, results per reader and by origin) and Park et al. 2021 (JMIR Med Inform 9:e23328,
"Realistic high-resolution body CT image synthesis by using progressive growing GAN: visual
Turing test": per-reader accuracy, sensitivity and specificity at spotting the synthetic images,
and the agreement between readers).

Tables (JSON-ready dicts, rendered by ``sections/tables.html.j2``):

* per reader and arm: accuracy (share of images whose origin was called right), synthetic images
  called synthetic (sensitivity), real images called real (specificity), each with Wilson (1927)
  score CIs (:func:`readerstudy.stats.proportion_ci`), and the AUC of the reader's "synthetic"
  probability with DeLong (1988) CI (:func:`readerstudy.stats.auc_delong`). Accuracy 50 % and
  AUC 0.5 mean the readers could not tell them apart.
* realism by origin, then per generator and per lesion class within each origin: the mean rating
  with a Student t CI over *images* (each image's mean over its readers first, so an image read by
  three readers counts once; clipped to 1 .. points), and the number of images and reads.
* agreement between readers per arm: Fleiss' (1971) kappa on the real/synthetic call and on the
  realism category (nominal), with the Fleiss-Nee-Landis (1979) z test, on the images every
  reader of the arm rated.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from readerstudy import stats
from readerstudy.core.errors import ValidationError
from readerstudy.core.questions import QuestionSpec, parse_questions

from . import na as NA
from .model import ReportInput
from .tables import _auc_cell, _seniority_key, arm_order, f, reader_rows

__all__ = ["is_realism_study", "realism_question", "realism_tables"]

ORIGIN_TRUTH = {"real": 0, "synthetic": 1}


def is_realism_study(data: ReportInput) -> bool:
    """True when the report input carries case origins (a realism study's cases)."""
    return data.origins is not None and not data.origins.empty


def realism_question(data: ReportInput) -> QuestionSpec | None:
    """The protocol's realism rating: the Likert question keyed ``realism``, else the first Likert question."""
    proto = (data.info.protocol if data.info else None) or {}
    likert = [q for q in parse_questions(proto.get("questions") or None, lambda _p, _m: None) if q.kind == "likert"]
    return next((q for q in likert if q.key == "realism"), likert[0] if likert else None)


def _reads(data: ReportInput) -> pd.DataFrame:
    """Reader rows joined with the case origins (``origin``, ``class_label``, ``generator``)."""
    assert data.origins is not None
    t = reader_rows(data.table)
    return t.merge(data.origins, on="case", how="inner")


def _prop(k: int, n: int, level: float) -> dict[str, Any]:
    if n == 0:
        return NA.na(NA.NO_READS)
    lo, hi = stats.proportion_ci(k, n, method="wilson", level=level)
    return {"value": k / n, "ci_low": lo, "ci_high": hi, "numerator": k, "denominator": n}


def _telling_apart(reads: pd.DataFrame, data: ReportInput, level: float) -> dict[str, Any]:
    key = _seniority_key(data.table)
    order = {a: i for i, a in enumerate(arm_order(data))}
    rows = []
    groups = sorted(reads.groupby(["reader", "arm"], sort=False),
                    key=lambda kv: (order.get(kv[0][1], 99), key.get(kv[0][0], (9, kv[0][0]))))
    for (reader, arm), g in groups:
        y = g["origin"].map(ORIGIN_TRUTH).to_numpy(int)
        call = g["binary"].astype(int).to_numpy()
        syn, real = y == 1, y == 0
        rows.append({
            "reader": reader, "arm": arm, "n": int(len(g)), "n_synthetic": int(syn.sum()), "n_real": int(real.sum()),
            "accuracy": _prop(int((call == y).sum()), len(y), level),
            "synthetic_called": _prop(int(call[syn].sum()), int(syn.sum()), level),
            "real_called": _prop(int((1 - call[real]).sum()), int(real.sum()), level),
            "auc": _auc_cell(y, g["probability"].to_numpy(float), True, level),
        })
    out = {
        "title": "Telling real from synthetic images, per reader",
        "test": f"Proportions with Wilson (1927) score {level:.0%} CIs; AUC of the reader's probability that the "
                f"image is synthetic (0-100), empirical, with DeLong (1988) {level:.0%} CI. Accuracy 50 % and AUC "
                "0.5: the readers could not tell the synthetic images from the real ones (visual Turing test, "
                "Chuquicusma et al. 2018; Park et al. 2021).",
        "conventions": "Truth = origin (1 synthetic, 0 real); the binary call 1 means 'synthetic'. n = reads.",
        "columns": ["reader", "arm", "n", "n_synthetic", "n_real", "accuracy", "synthetic_called", "real_called",
                    "auc"],
        "labels": {"n_synthetic": "n synthetic", "n_real": "n real", "accuracy": "Accuracy",
                   "synthetic_called": "Synthetic called synthetic", "real_called": "Real called real",
                   "auc": "AUC"},
        "rows": rows,
    }
    if not rows:
        out["na"] = NA.NO_READS
    return out


def _mean_ci(per_image: pd.Series, level: float, points: int) -> dict[str, Any]:
    x = per_image.to_numpy(float)
    if len(x) == 0:
        return NA.na(NA.NO_READS)
    mean = float(x.mean())
    if len(x) < 2:
        return {"value": mean, "ci_low": None, "ci_high": None, "ci_na": "fewer than 2 images"}
    half = _t_ppf((1 + level) / 2, len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return {"value": mean, "ci_low": max(1.0, mean - half), "ci_high": min(float(points), mean + half)}


def _t_ppf(q: float, df: int) -> float:
    """Student t quantile (``scipy.special.stdtrit``, as ``scipy.stats.t.ppf``)."""
    from readerstudy.stats import _dist

    return _dist.t(df).ppf(q)


def _realism(reads: pd.DataFrame, q: QuestionSpec | None, level: float) -> dict[str, Any]:
    col = f"answer_{q.key}" if q else ""
    rated = reads[reads[col].notna()].assign(rating=lambda t: t[col].astype(float)) if q and col in reads else None
    rows: list[dict[str, Any]] = []
    if rated is not None and not rated.empty:
        per_image = rated.groupby("case").agg(rating=("rating", "mean"), origin=("origin", "first"),
                                             generator=("generator", "first"), class_label=("class_label", "first"),
                                             reads=("rating", "size"))
        groupings = [("all images", None), ("generator", "generator"), ("class", "class_label")]
        for label, by in groupings:
            keys = [None] if by is None else sorted(per_image[by].dropna().unique(), key=str)
            for value in keys:
                for origin in ("real", "synthetic"):
                    sel = per_image[per_image["origin"] == origin]
                    if by is not None:
                        sel = sel[sel[by] == value]
                    if sel.empty:
                        continue
                    rows.append({"group": label, "subgroup": "–" if value is None else _group_value(by, value),
                                 "origin": origin, "images": int(len(sel)), "n": int(sel["reads"].sum()),
                                 "mean": _mean_ci(sel["rating"], level, q.points if q else 5)})
    scale = f"1 = {q.low_label or 'lowest'} … {q.points} = {q.high_label or 'highest'}" if q else ""
    out = {
        "title": f"Realism ({q.label!r}, {scale})" if q else "Realism",
        "test": f"Mean rating with a Student t {level:.0%} CI over images: each image's ratings are averaged "
                "over its readers first, so every image counts once (Chuquicusma et al. 2018). Real images are grouped under the generator whose size they were resized to.",
        "conventions": "images = images rated; n = ratings (reads).",
        "columns": ["group", "subgroup", "origin", "images", "n", "mean"],
        "labels": {"group": "Grouping", "subgroup": "Subgroup", "origin": "Origin", "images": "Images", "mean": "Mean"},
        "rows": rows,
    }
    if not rows:
        out["na"] = "the protocol asks no Likert realism question" if q is None else NA.NO_READS
    return out


def _group_value(by: str | None, value: Any) -> str:
    if by == "class_label":
        return {0: "0 (benign)", 1: "1 (malignant)"}.get(int(value), str(int(value)))
    return str(value)


def _fleiss(wide: pd.DataFrame, categories: list[Any]) -> dict[str, Any]:
    complete = wide.dropna()
    base: dict[str, Any] = {"raters": int(wide.shape[1]), "n": int(len(complete))}
    if wide.shape[1] < 2:
        return {**base, "kappa": NA.na(NA.FEWER_THAN_2_READERS)}
    if complete.empty:
        return {**base, "kappa": NA.na("no image rated by every reader")}
    try:
        r = stats.fleiss_kappa(complete.to_numpy(), categories=categories)
    except (ValidationError, ZeroDivisionError, FloatingPointError):
        return {**base, "kappa": NA.na(NA.ONE_CATEGORY)}
    if f(r.kappa) is None:
        return {**base, "kappa": NA.na(NA.ONE_CATEGORY)}
    return {**base, "kappa": {"value": f(r.kappa)}, "z": f(r.z), "p_value": f(r.p_value),
            "percent_agreement": f(r.percent_agreement)}


def _agreement(reads: pd.DataFrame, data: ReportInput, q: QuestionSpec | None) -> dict[str, Any]:
    rows = []
    for arm in arm_order(data):
        g = reads[reads["arm"] == arm]
        if g.empty:
            continue
        calls = g.pivot_table(index="case", columns="reader", values="binary", aggfunc="first").astype(float)
        rows.append({"arm": arm, "answer": "real/synthetic call", **_fleiss(calls, [0.0, 1.0])})
        col = f"answer_{q.key}" if q else ""
        if q and col in g and g[col].notna().any():
            ratings = g.pivot_table(index="case", columns="reader", values=col, aggfunc="first").astype(float)
            cats = [float(c) for c in q.categories]
            rows.append({"arm": arm, "answer": f"realism ({q.key})", **_fleiss(ratings, cats)})
    out = {
        "title": "Agreement between readers (Fleiss' kappa)",
        "test": "Fleiss' (1971) kappa over the images every reader of the arm rated, with the Fleiss-Nee-Landis "
                "(1979) z test of kappa = 0 (as Park et al. 2021); the realism rating as nominal categories "
                "(the weighted pairwise kappas are in the study-defined questions section).",
        "conventions": "n = images rated by every reader; agreement = share of images on which all agreed.",
        "columns": ["arm", "answer", "raters", "n", "kappa", "z", "p_value", "percent_agreement"],
        "labels": {"answer": "Answer", "raters": "Readers", "kappa": "Fleiss' κ", "z": "z",
                   "percent_agreement": "All agree (%)"},
        "rows": rows,
    }
    if not rows:
        out["na"] = NA.NO_READS
    return out


def realism_tables(data: ReportInput, level: float = 0.95) -> list[dict[str, Any]]:
    """The realism section's tables (telling apart, realism, agreement); empty unless a realism study."""
    if not is_realism_study(data):
        return []
    reads = _reads(data)
    q = realism_question(data)
    return [_telling_apart(reads, data, level), _realism(reads, q, level), _agreement(reads, data, q)]

