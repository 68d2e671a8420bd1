"""Report figures: matplotlib (Agg) figures from the tidy table and the report tables. No Qt, no pyplot.

Figures are built with :class:`matplotlib.figure.Figure` directly, so nothing touches a GUI
backend or the pyplot global state; callers save them (PNG for HTML, PdfPages for PDF).
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .tables import MODEL_SENIORITY, rater_matrix  # noqa: E402

__all__ = [
    "build_figures",
    "calibration_figure",
    "decision_figure",
    "kappa_figure",
    "roc_figure",
    "time_box_figure",
    "time_confidence_figure",
]

SIZE = (8.0, 6.0)


def _roc_points(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical ROC (FPR, TPR) over all distinct thresholds, ties handled as one step."""
    thr = np.unique(s)[::-1]
    pos, neg = max(int(y.sum()), 1), max(int((1 - y).sum()), 1)
    tpr = [0.0] + [float(((s >= t) & (y == 1)).sum()) / pos for t in thr]
    fpr = [0.0] + [float(((s >= t) & (y == 0)).sum()) / neg for t in thr]
    return np.array(fpr), np.array(tpr)


def roc_figure(table: pd.DataFrame, arm: str, auc_rows: list[dict[str, Any]]) -> Figure:
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    wide = rater_matrix(table, arm, "probability")
    calls = rater_matrix(table, arm, "binary")
    truth = table[table["truth"].notna()].groupby("case")["truth"].first().astype(int)
    auc = {(r["reader"], r["arm"]): r["auc"]["value"] for r in auc_rows}
    models = set(table.loc[table["seniority"] == MODEL_SENIORITY, "reader"])
    for i, name in enumerate(wide.columns):
        col = wide[name].dropna()
        y = truth.loc[col.index].to_numpy()
        fpr, tpr = _roc_points(y, col.to_numpy(float))
        key = (name, "model" if name in models else arm)
        a = auc.get(key)
        style = {"lw": 2.5, "color": "k"} if name in models else {"lw": 1.5, "color": f"C{i}"}
        ax.plot(fpr, tpr, label=f"{name} (AUC {a:.3f})" if a is not None else name, **style)
        b = calls[name].dropna().astype(int)
        yb = truth.loc[b.index].to_numpy()
        sens = float(((b.to_numpy() == 1) & (yb == 1)).sum()) / max(int(yb.sum()), 1)
        spec = float(((b.to_numpy() == 0) & (yb == 0)).sum()) / max(int((1 - yb).sum()), 1)
        ax.plot([1 - spec], [sens], marker="s" if name in models else "o", ms=9, color=style["color"],
                markeredgecolor="white")
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
    ax.set(xlabel="1 - specificity (false-positive rate)", ylabel="Sensitivity (true-positive rate)",
           title=f"ROC curves, {arm} arm readers and model (markers: binary-call operating points)",
           xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), aspect="equal")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def kappa_figure(kappa: dict[str, Any]) -> Figure:
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    names = kappa["names"]
    m = np.array([[np.nan if v is None else v for v in row] for row in kappa["matrix"]], dtype=float)
    im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i in range(len(names)):
        for j in range(len(names)):
            if np.isfinite(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=9,
                        color="white" if abs(m[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, label="Cohen's kappa")
    ax.set_title(f"Pairwise Cohen's kappa of binary calls ({kappa['n_cases']} cases)")
    fig.tight_layout()
    return fig


def _reader_rows(table: pd.DataFrame) -> pd.DataFrame:
    return table[(table["seniority"] != MODEL_SENIORITY) & table["time_ms"].notna()]


def time_box_figure(table: pd.DataFrame) -> Figure:
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    rows = _reader_rows(table)
    groups = list(rows.groupby(["reader", "arm"], sort=True))
    ax.boxplot([g["time_ms"].astype(float).to_numpy() / 1000 for _, g in groups], orientation="horizontal",
               tick_labels=[f"{r}\n{a}" for (r, a), _ in groups])
    ax.set(xlabel="Reading time per case (s)", title="Reading time per reader and arm")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig


def time_confidence_figure(table: pd.DataFrame) -> Figure:
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    rows = _reader_rows(table)
    rows = rows[rows["confidence"].notna()]
    rng = np.random.default_rng(0)
    for i, (reader, g) in enumerate(rows.groupby("reader", sort=True)):
        jitter = rng.uniform(-0.15, 0.15, len(g))
        ax.scatter(g["confidence"].astype(float) + jitter, g["time_ms"].astype(float) / 1000, s=12,
                   alpha=0.6, color=f"C{i}", label=reader)
    ax.set(xlabel="Confidence (jittered)", ylabel="Reading time (s)", title="Reading time vs confidence",
           yscale="log")
    ax.legend(fontsize=8)
    return fig


def decision_figure(dca: dict[str, Any]) -> Figure:
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    t = dca["thresholds"]
    for i, (name, curve) in enumerate(dca["curves"].items()):
        ax.plot(t, [np.nan if v is None else v for v in curve], label=name, color=f"C{i}", lw=1.5)
    if dca["treat_all"]:
        ax.plot(t, [np.nan if v is None else v for v in dca["treat_all"]], label="treat all", color="grey", ls="--")
    ax.axhline(0, color="black", lw=1, label="treat none")
    top = max([v for c in dca["curves"].values() for v in c if v is not None] + [0.05])
    ax.set(xlabel="Threshold probability", ylabel="Net benefit", title=dca["title"], ylim=(-0.05, top * 1.15))
    ax.legend(fontsize=8)
    return fig


def calibration_figure(table: pd.DataFrame, arm: str, bins: int = 5) -> Figure:
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    wide = rater_matrix(table, arm, "probability")
    truth = table[table["truth"].notna()].groupby("case")["truth"].first().astype(int)
    edges = np.linspace(0, 100, bins + 1)
    for i, name in enumerate(wide.columns):
        col = wide[name].dropna()
        y = truth.loc[col.index].to_numpy()
        idx = np.clip(np.digitize(col.to_numpy(float), edges[1:-1]), 0, bins - 1)
        xs, ys = [], []
        for b in range(bins):
            sel = idx == b
            if sel.any():
                xs.append(col.to_numpy(float)[sel].mean() / 100)
                ys.append(y[sel].mean())
        ax.plot(xs, ys, marker="o", label=name, color=f"C{i}")
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.set(xlabel="Mean stated probability (bin)", ylabel="Observed fraction malignant",
           title=f"Calibration ({bins} equal-width probability bins, {arm} arm and model)",
           xlim=(0, 1), ylim=(0, 1), aspect="equal")
    ax.legend(fontsize=8)
    return fig


def build_figures(table: pd.DataFrame, tables: dict[str, Any]) -> dict[str, Figure]:
    """Every report figure, keyed by name, in report order."""
    arm = tables["focus_arm"]
    return {
        "roc": roc_figure(table, arm, tables["accuracy"]["rows"]),
        "kappa": kappa_figure(tables["kappa"]),
        "reading_time": time_box_figure(table),
        "time_vs_confidence": time_confidence_figure(table),
        "decision_curve": decision_figure(tables["decision_curve"]),
        "calibration": calibration_figure(table, arm),
    }
