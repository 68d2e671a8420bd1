"""Report figures: matplotlib (Agg) figures from the read table and the report tables. No Qt, no pyplot.

Each figure is a :class:`FigureSpec` with a title and a caption that says what is drawn and how
to read it; a figure that cannot be drawn yet has ``figure=None`` and ``na`` (the reason). A spec
knows its size before anything is drawn (``size``, :func:`pixel_size`), and matplotlib is imported
and the figure built only when ``figure`` is first asked for: the report hands its pages to the
PDF typesetter before that (see :mod:`readerstudy.reports.pdf_process`). Figures are built with
:class:`matplotlib.figure.Figure` directly, so nothing touches a GUI backend or pyplot's state.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import na as NA
from .format import fixed
from .model import MODEL_SENIORITY, ReportInput
from .tables import arm_order, judged, model_names, rater_matrix, truth_by_case

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DPI", "FIGURES", "FigureSpec", "build_figures", "pixel_size", "png_bytes", "roc_points"]

WIDE = (7.2, 3.6)
SQUARE = (6.4, 4.4)
CONTEXT_PALETTE = ("#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#6c4f9c", "#00798c", "#8c564b", "#e377c2",
                   "#7f7f7f", "#bcbd22", "#17becf", "#393b79")
#: the report figures' resolution (dots per inch)
DPI = 120


@functools.cache
def _figure_class() -> type[Figure]:
    """matplotlib's Figure, imported on first use with the Agg backend and the report's style."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({"font.family": "DejaVu Sans", "font.size": 9, "axes.titlesize": 10,
                                "axes.spines.top": False, "axes.spines.right": False})
    from matplotlib.figure import Figure

    return Figure


@dataclass
class FigureSpec:
    """One report figure: ``key`` (file name), ``title``, ``caption``; ``figure`` None when ``na`` says why.

    ``size``: (width, height) in inches, set with the drawing function by :meth:`planned`;
    ``figure`` builds the matplotlib figure (constrained layout) on first access.
    """

    key: str
    title: str
    caption: str
    na: str | None = None
    section: str = ""
    size: tuple[float, float] | None = None
    _draw: Callable[[Figure], None] | None = field(default=None, repr=False, compare=False)
    _figure: Figure | None = field(default=None, repr=False, compare=False)

    def planned(self, size: tuple[float, float], draw: Callable[[Figure], None]) -> FigureSpec:
        """This spec with its size (inches) and the function that draws into a Figure of that size."""
        self.size, self._draw = size, draw
        return self

    @property
    def drawable(self) -> bool:
        """True when there is a figure to draw (``na`` is None), without drawing it."""
        return self._draw is not None

    @property
    def figure(self) -> Figure | None:
        if self._draw is None or self.size is None:
            return None
        if self._figure is None:
            fig = _figure_class()(figsize=self.size, layout="constrained")
            self._draw(fig)
            self._figure = fig
        return self._figure


def pixel_size(size: tuple[float, float], dpi: int = DPI) -> tuple[int, int]:
    """(width, height) in pixels of :func:`png_bytes` of a figure of ``size`` inches: the size
    times ``dpi``, truncated as matplotlib's canvas does (``FigureCanvasBase.get_width_height``:
    within 1e-8 pixel of an integer rounds up). No tight bounding box, so known before drawing."""
    return int(size[0] * dpi + 1e-8), int(size[1] * dpi + 1e-8)


def png_bytes(fig: Figure, dpi: int = DPI) -> bytes:
    """The figure as an RGB PNG of :func:`pixel_size` at ``dpi`` (raises RuntimeError if matplotlib
    drew another size).

    matplotlib renders the pixels (``savefig(format="rgba")``: the same drawing as its PNG
    writer); Pillow writes them without the alpha channel (the figures are opaque, and WeasyPrint
    would split an alpha channel into a separate soft mask in every PDF) at zlib level 1 (the report
    embeds several figures and is written after every session).
    """
    from PIL import Image

    raw = io.BytesIO()
    fig.savefig(raw, format="rgba", dpi=dpi)
    size = pixel_size(tuple(fig.get_size_inches()), dpi)
    if len(raw.getbuffer()) != size[0] * size[1] * 4:
        raise RuntimeError(f"matplotlib drew {len(raw.getbuffer())} bytes, not {size[0]} x {size[1]} RGBA pixels")
    image = Image.frombuffer("RGBA", size, raw.getbuffer(), "raw", "RGBA", 0, 1).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1, dpi=(dpi, dpi))
    return out.getvalue()


def roc_points(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical ROC (FPR, TPR) over all distinct thresholds, ties handled as one step."""
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tps, fps = np.cumsum(y)[last], np.cumsum(1 - y)[last]
    pos, neg = max(int(y.sum()), 1), max(int((1 - y).sum()), 1)
    return np.r_[0.0, fps / neg], np.r_[0.0, tps / pos]


def _colors(names: list[str]) -> dict[str, str]:
    return {n: CONTEXT_PALETTE[i % len(CONTEXT_PALETTE)] for i, n in enumerate(names)}


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, "n/a: " + text, ha="center", va="center", wrap=True, fontsize=8, color="#555",
            transform=ax.transAxes)


def _roc_panel(ax: Any, data: ReportInput, arm: str, colors: dict[str, str]) -> None:
    table = data.table
    prob, calls = rater_matrix(table, arm, "probability", with_truth=True), rater_matrix(table, arm, "binary", with_truth=True)
    truth = truth_by_case(table)
    models = set(model_names(table))
    drawn = 0
    for name in prob.columns:
        col = prob[name].dropna()
        y = truth.loc[col.index].to_numpy()
        if NA.class_reason(y, data.has_truth) is not None:
            continue
        fpr, tpr = roc_points(y, col.to_numpy(float))
        is_model = name in models
        ax.plot(fpr, tpr, color="black" if is_model else colors[name], lw=1.6 if is_model else 1.3,
                ls="--" if is_model else "-", label=name, drawstyle="default")
        b = calls[name].dropna().astype(int)
        yb = truth.loc[b.index].to_numpy()
        sens, spec = ((b.to_numpy() == 1) & (yb == 1)).sum() / max((yb == 1).sum(), 1), \
            ((b.to_numpy() == 0) & (yb == 0)).sum() / max((yb == 0).sum(), 1)
        ax.plot([1 - spec], [sens], marker="s" if is_model else "o", ms=6, ls="none",
                color="black" if is_model else colors[name], markeredgecolor="white")
        drawn += 1
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=0.8)
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), aspect="equal", title=arm, xlabel="1 - specificity")
    if not drawn:
        _empty(ax, NA.class_reason(judged(table)["truth"], data.has_truth) or "no reads with truth in this arm")


def roc_figure(data: ReportInput) -> FigureSpec:
    arms = arm_order(data) or (["model"] if model_names(data.table) else [])
    spec = FigureSpec("roc", "ROC curves per arm",
                      "Empirical ROC curve of each reader's 0-100 probability, one panel per arm (pre-AI = the "
                      "locked read before the AI output was shown); the model's curve (black, dashed) is drawn in "
                      "every panel for comparison. Markers: each rater's binary-call operating point (circle: "
                      "reader, square: model). Cases with ground truth only.", section="accuracy")
    if not arms:
        spec.na = NA.NO_READS
        return spec
    readers = sorted(set(data.table.loc[data.table["seniority"] != MODEL_SENIORITY, "reader"]))
    colors = _colors(readers)
    n = len(arms)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols

    def draw(fig: Figure) -> None:
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
        for ax, arm in zip(axes, arms, strict=False):
            _roc_panel(ax, data, arm, colors)
        for ax in axes[n:]:
            ax.set_visible(False)
        axes[0].set_ylabel("Sensitivity")
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=c, lw=1.3, label=r) for r, c in colors.items()]
        handles += [Line2D([], [], color="black", ls="--", label=m) for m in model_names(data.table)]
        fig.legend(handles=handles, loc="outside right center", fontsize=7, frameon=False)

    return spec.planned((2.5 * cols + 1.6, 2.7 * rows + 0.4), draw)


def forest_figure(mrmc: list[dict[str, Any]]) -> FigureSpec:
    spec = FigureSpec("forest", "MRMC forest plot",
                      "AUC difference (first minus second test) per reader with its 95% CI (circles, the reader's "
                      "own jackknife SE) and the pooled Obuchowski-Rockette estimate for random readers and cases "
                      "(diamond, Hillis df). A difference right of 0 favours the first test.", section="mrmc")
    done = [m for m in mrmc if "na" not in m]
    if not done:
        spec.na = mrmc[0]["na"] if mrmc else "no comparison between arms or with a model is possible yet"
        return spec
    labels, est, lo, hi, pooled = [], [], [], [], []
    for m in done:
        for r in m["rows"]:
            d = r.get("difference") or {}
            labels.append(f"{r['reader']}")
            est.append(d.get("value"))
            lo.append(d.get("ci_low"))
            hi.append(d.get("ci_high"))
            pooled.append(False)
        d = m["difference"]
        labels.append(f"Pooled: {m['label']}")
        est.append(d["value"])
        lo.append(d["ci_low"])
        hi.append(d["ci_high"])
        pooled.append(True)

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        y = np.arange(len(labels))[::-1]
        for yi, e, a, b, p in zip(y, est, lo, hi, pooled, strict=True):
            if e is None:
                continue
            if a is not None and b is not None:
                ax.plot([a, b], [yi, yi], color="black" if p else "#1b6ca8", lw=1.8 if p else 1.1)
            ax.plot([e], [yi], marker="D" if p else "o", ms=8 if p else 5, color="black" if p else "#1b6ca8")
        ax.axvline(0, color="grey", ls=":", lw=1)
        ax.set_yticks(y, labels, fontsize=7)
        for yi, p in zip(y, pooled, strict=True):
            if p:
                ax.axhline(yi - 0.5, color="#ddd", lw=0.6)
        ax.set_xlabel("AUC difference (95% CI)")

    return spec.planned((7.0, 0.28 * len(labels) + 1.0), draw)


def kappa_figure(kappas: dict[str, dict[str, Any]]) -> FigureSpec:
    spec = FigureSpec("kappa", "Pairwise Cohen's kappa",
                      "Cohen's kappa of the binary calls for every pair of raters, one panel per arm (readers and "
                      "model); each pair on the cases both read. Blue = agreement beyond chance, red = below.",
                      section="agreement")
    usable = {a: k for a, k in kappas.items() if "na" not in k}
    if not usable:
        spec.na = next(iter(kappas.values()))["na"] if kappas else NA.NO_READS
        return spec

    def draw(fig: Figure) -> None:
        axes = np.atleast_1d(fig.subplots(1, len(usable), squeeze=False).ravel())
        im = None
        for ax, (arm, k) in zip(axes, usable.items(), strict=True):
            names = k["names"]
            m = np.array([[np.nan if c.get("value") is None else c["value"] for c in row] for row in k["matrix"]],
                         dtype=float)
            im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu")
            ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=7)
            ax.set_yticks(range(len(names)), names, fontsize=7)
            for i in range(len(names)):
                for j in range(len(names)):
                    txt = fixed(m[i, j], 2) if np.isfinite(m[i, j]) else "n/a"
                    ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                            color="white" if np.isfinite(m[i, j]) and abs(m[i, j]) > 0.6 else "black")
            ax.set_title(arm)
        fig.colorbar(im, ax=list(axes), label="Cohen's kappa", shrink=0.8)

    return spec.planned((3.3 * len(usable) + 0.8, 3.4), draw)


def ai_flow_figure(effects: list[dict[str, Any]]) -> FigureSpec:
    spec = FigureSpec("ai_flow", "Calls before and after the AI reveal",
                      "Left: each reader's binary calls from the locked pre-AI read to the aided read (kept negative, "
                      "negative to positive, positive to negative, kept positive). Right: among cases where the "
                      "pre-AI call differed from the AI's call, the share where the reader switched to the AI's "
                      "call, when the AI was right and when it was wrong (Wilson 95% CI).", section="ai")
    usable = [e for e in effects if e.get("rows")]
    if not usable:
        spec.na = effects[0]["na"] if effects else "the study has no sequential AI arm"
        return spec
    rows = [r for e in usable for r in e["rows"]]

    def draw(fig: Figure) -> None:
        left, right = fig.subplots(1, 2, width_ratios=(1.3, 1))
        names = [r["reader"] for r in rows][::-1]
        parts = (("neg_neg", "kept negative", "#9ecae1"), ("neg_pos", "negative to positive", "#f28e2b"),
                 ("pos_neg", "positive to negative", "#8e6bbf"), ("pos_pos", "kept positive", "#3182bd"))
        start = np.zeros(len(rows))
        for key, label, color in parts:
            vals = np.array([r[key] / max(r["n"], 1) for r in rows][::-1])
            left.barh(names, vals, left=start, color=color, label=label)
            start += vals
        left.set(xlabel="Share of the reader's cases", xlim=(0, 1))
        left.legend(fontsize=6, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False)
        left.tick_params(axis="y", labelsize=7)
        y = np.arange(len(rows))[::-1]
        for off, key, color, label in ((-0.15, "followed_ai_right", "#2e933c", "AI right"),
                                       (0.15, "followed_ai_wrong", "#d1495b", "AI wrong")):
            for yi, r in zip(y, rows, strict=True):
                v = r.get(key) or {}
                if "value" in v:
                    right.errorbar([v["value"]], [yi + off], xerr=[[v["value"] - v["ci_low"]], [v["ci_high"] - v["value"]]],
                                   fmt="o", color=color, ms=4, capsize=2, label=label if yi == y[0] else None)
        right.set(xlim=(-0.02, 1.02), xlabel="Switched to the AI's call", yticks=[])
        if not right.get_legend_handles_labels()[0]:
            _empty(right, next((r["followed_ai_right"]["na"] for r in rows if "na" in r["followed_ai_right"]),
                               "no case where a reader's pre-AI call differed from the AI's"))
        else:
            right.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False)

    return spec.planned(WIDE, draw)


def time_figure(table: pd.DataFrame) -> FigureSpec:
    spec = FigureSpec("reading_time", "Reading time per reader and arm",
                      "Time from the case being shown to the read being submitted (box: quartiles, whiskers: 1.5 "
                      "IQR, points beyond them: outliers), one row per reader and arm.", section="time")
    rows = table[(table["seniority"] != MODEL_SENIORITY) & table["time_ms"].notna()]
    if rows.empty:
        spec.na = NA.NO_TIMES if len(table) else NA.NO_READS
        return spec
    groups = list(rows.groupby(["reader", "arm"], sort=True))

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        ax.boxplot([g["time_ms"].astype(float).to_numpy() / 1000 for _, g in groups], orientation="horizontal",
                   tick_labels=[f"{r} · {a}" for (r, a), _ in groups], flierprops={"markersize": 3})
        ax.set(xlabel="Reading time per case (s)")
        ax.tick_params(axis="y", labelsize=7)

    return spec.planned((6.4, 0.3 * len(groups) + 1.0), draw)


def decision_figure(dca: dict[str, Any]) -> FigureSpec:
    spec = FigureSpec("decision_curve", "Decision curves",
                      f"Net benefit of acting on each rater's probability at each threshold probability "
                      f"({dca['title'].split('(')[-1].rstrip(')')}), against treating every case (grey, dashed) "
                      "and none (black). Higher is better; read the curves over the threshold probabilities at "
                      "which a clinician would act on the result (Vickers & Elkin 2006).", section="decision")
    if "na" in dca:
        spec.na = dca["na"]
        return spec

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        t = dca["thresholds"]
        for i, (name, curve) in enumerate(dca["curves"].items()):
            ax.plot(t, [np.nan if v is None else v for v in curve], label=name, color=CONTEXT_PALETTE[i % 12], lw=1.4)
        if dca["treat_all"]:
            ax.plot(t, [np.nan if v is None else v for v in dca["treat_all"]], label="treat all", color="grey", ls="--")
        ax.axhline(0, color="black", lw=1, label="treat none")
        top = max([v for c in dca["curves"].values() for v in c if v is not None] + [0.05])
        ax.set(xlabel="Threshold probability", ylabel="Net benefit", ylim=(-0.05, top * 1.15))
        ax.legend(fontsize=7, frameon=False)

    return spec.planned(SQUARE, draw)


def calibration_figure(data: ReportInput, arm: str | None, bins: int = 5) -> FigureSpec:
    spec = FigureSpec("calibration", "Calibration",
                      f"Observed share of malignant cases against the mean stated probability in {bins} equal-width "
                      f"probability bins ({arm} arm readers and model); the dotted diagonal is perfect calibration.",
                      section="decision")
    wide = rater_matrix(data.table, arm, "probability", with_truth=True)
    truth = truth_by_case(data.table)
    reason = NA.NO_READS if data.table.empty else NA.class_reason(truth, data.has_truth, need="any")
    if reason:
        spec.na = reason
        return spec

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        edges = np.linspace(0, 100, bins + 1)
        for i, name in enumerate(wide.columns):
            col = wide[name].dropna()
            y, p = truth.loc[col.index].to_numpy(), col.to_numpy(float)
            idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
            xs = [p[idx == b].mean() / 100 for b in range(bins) if (idx == b).any()]
            ys = [y[idx == b].mean() for b in range(bins) if (idx == b).any()]
            ax.plot(xs, ys, marker="o", ms=4, label=name, color=CONTEXT_PALETTE[i % 12])
        ax.plot([0, 1], [0, 1], ls=":", color="grey")
        ax.set(xlabel="Mean stated probability", ylabel="Observed share malignant", xlim=(0, 1), ylim=(0, 1))
        ax.legend(fontsize=7, frameon=False)

    return spec.planned((4.6, 4.0), draw)


#: every report figure in report order, each from (read table input, report tables)
FIGURES: tuple[Callable[[ReportInput, dict[str, Any]], FigureSpec], ...] = (
    lambda data, tables: roc_figure(data),
    lambda data, tables: kappa_figure(tables["kappa_by_arm"]),
    lambda data, tables: forest_figure(tables["mrmc"]),
    lambda data, tables: ai_flow_figure(tables["ai_effect"]),
    lambda data, tables: time_figure(data.table),
    lambda data, tables: decision_figure(tables["decision_curve"]),
    lambda data, tables: calibration_figure(data, tables["focus_arm"]),
)


def build_figures(data: ReportInput, tables: dict[str, Any]) -> list[FigureSpec]:
    """Every report figure, in report order: its matplotlib figure (built, not yet rendered to
    pixels: :func:`png_bytes` does that) or the reason it cannot be drawn yet."""
    return [make(data, tables) for make in FIGURES]
