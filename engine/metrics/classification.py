"""Classification figures computed in the engine (scikit-learn): multi-class macro metrics with
one-vs-rest AUC (REACT-KD eq. 19-23), multi-label macro AUC (DISC's downstream classifier) and
image-level figures from aggregated patch probabilities (SSL-guided LDM).

Confidence intervals and reader statistics stay in the app's ``readerstudy.stats``.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

__all__ = ["multiclass_report", "multilabel_auc", "binary_at_threshold", "threshold_sweep"]


def multiclass_report(y_true, proba) -> dict:
    """Macro precision/recall/F1, accuracy, macro one-vs-rest accuracy and AUC.

    ``y_true`` (N,) integer classes 0..C-1, ``proba`` (N, C) probabilities. ``macro_accuracy`` is
    the mean over classes of the one-vs-rest accuracy (TP + TN) / N (the paper's eq. 19);
    ``accuracy`` is the plain fraction correct. AUC is ``None`` when a class is missing.
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(proba, dtype=np.float64)
    pred = p.argmax(1)
    c = p.shape[1]
    ovr_acc = [float(((pred == k) == (y == k)).mean()) for k in range(c)]
    try:
        auc = float(roc_auc_score(y, p, multi_class="ovr", average="macro", labels=list(range(c))))
    except ValueError:
        auc = None
    kw = dict(average="macro", labels=list(range(c)), zero_division=0)
    return {"n": int(len(y)), "accuracy": float(accuracy_score(y, pred)), "macro_accuracy": float(np.mean(ovr_acc)),
            "precision": float(precision_score(y, pred, **kw)), "recall": float(recall_score(y, pred, **kw)),
            "f1": float(f1_score(y, pred, **kw)), "auc_ovr": auc}


def multilabel_auc(y_true, proba, names: tuple[str, ...]) -> dict:
    """AUC per label and their macro mean; ``y_true``/``proba`` (N, L). Labels with one class only
    get ``None`` and are left out of the mean."""
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    per = {}
    for j, name in enumerate(names):
        per[name] = float(roc_auc_score(y[:, j], p[:, j])) if len(set(y[:, j].tolist())) == 2 else None
    vals = [v for v in per.values() if v is not None]
    return {"per_label": per, "macro": float(np.mean(vals)) if vals else None}


def binary_at_threshold(y_true, score, threshold: float) -> dict:
    """Accuracy, sensitivity, specificity of ``score > threshold`` against 0/1 ``y_true``."""
    y = np.asarray(y_true).astype(int)
    pred = (np.asarray(score) > threshold).astype(int)
    tp, tn = int(((pred == 1) & (y == 1)).sum()), int(((pred == 0) & (y == 0)).sum())
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    return {"threshold": float(threshold), "accuracy": float((pred == y).mean()) if len(y) else float("nan"),
            "sensitivity": tp / pos if pos else float("nan"), "specificity": tn / neg if neg else float("nan"),
            "n_pos": pos, "n_neg": neg}


def threshold_sweep(y_true, score, thresholds) -> list[dict]:
    """:func:`binary_at_threshold` at each threshold."""
    return [binary_at_threshold(y_true, score, t) for t in thresholds]
