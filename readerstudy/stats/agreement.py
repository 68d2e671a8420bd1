"""Chance-corrected agreement between raters: Cohen's kappa (two raters) and Fleiss' kappa (m raters).

References
----------
Cohen J. (1960). A coefficient of agreement for nominal scales. Educ Psychol Meas 20:37-46.
Cohen J. (1968). Weighted kappa. Psychol Bull 70:213-220.
Fleiss JL, Cohen J, Everitt BS. (1969). Large sample standard errors of kappa and weighted kappa.
    Psychol Bull 72:323-327.
Fleiss JL. (1971). Measuring nominal scale agreement among many raters. Psychol Bull 76:378-382.
Fleiss JL, Nee JCM, Landis JR. (1979). Large sample variance of kappa in the case of different
    sets of raters. Psychol Bull 86:974-977.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from readerstudy.core.errors import ValidationError

from . import _dist
from ._validation import ResultMixin, as_1d, check_choice, check_level, check_same_length, two_sided_z

__all__ = ["CohenKappaResult", "FleissKappaResult", "cohen_kappa", "fleiss_kappa"]


@dataclass(frozen=True)
class CohenKappaResult(ResultMixin):
    """Cohen's (weighted) kappa with its large-sample inference.

    Attributes
    ----------
    kappa : (p_observed - p_expected) / (1 - p_expected).
    p_observed, p_expected : weighted observed and chance agreement.
    se : non-null asymptotic standard error (Fleiss, Cohen & Everitt 1969), used for the CI.
    ci_low, ci_high : kappa -/+ z * se at ``level``.
    se0 : standard error under H0: kappa = 0, used for the test.
    z, p_value : kappa / se0 and its two-sided normal p-value.
    n : number of rated subjects.
    weights : "none", "linear" or "quadratic".
    categories : category order used for the table.
    table : the categories x categories count table (rows: rater A, columns: rater B).
    """

    kappa: float
    p_observed: float
    p_expected: float
    se: float
    ci_low: float
    ci_high: float
    se0: float
    z: float
    p_value: float
    n: int
    level: float
    weights: str
    categories: tuple[Any, ...]
    table: tuple[tuple[int, ...], ...]


def _agreement_weights(k: int, weights: str | None, scores: ArrayLike | None) -> NDArray[np.float64]:
    if weights is None or weights == "none":
        return np.eye(k)
    check_choice("weights", weights, ("linear", "quadratic", "none", None))
    if scores is None:
        s = np.arange(k, dtype=np.float64)
    else:
        s = np.asarray(scores, dtype=np.float64)
        if s.shape != (k,):
            raise ValidationError(f"scores must give one number per category ({k}), got shape {s.shape}.")
        if not np.isfinite(s).all():
            raise ValidationError("scores must be finite numbers.")
    spread = float(s.max() - s.min())
    if spread == 0.0:
        raise ValidationError("Weighted kappa needs at least two categories with different scores.")
    d = np.abs(s[:, None] - s[None, :]) / spread
    return 1.0 - (d if weights == "linear" else d**2)


def _kappa_from_table(
    table: ArrayLike,
    *,
    weights: str | None = None,
    scores: ArrayLike | None = None,
    level: float = 0.95,
    categories: Sequence[Any] | None = None,
) -> CohenKappaResult:
    counts = np.asarray(table, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValidationError(
            f"The agreement table must be square (categories x categories), got shape {counts.shape}."
        )
    if not np.isfinite(counts).all() or (counts < 0).any() or (counts != np.round(counts)).any():
        raise ValidationError("The agreement table must hold non-negative whole counts.")
    n = float(counts.sum())
    if n <= 0:
        raise ValidationError("The agreement table is empty: no subject was rated by both raters.")
    level = check_level(level)
    k = counts.shape[0]
    w = _agreement_weights(k, weights, scores)
    p = counts / n
    row, col = p.sum(axis=1), p.sum(axis=0)
    p_o = float((w * p).sum())
    p_e = float((w * np.outer(row, col)).sum())
    if np.isclose(p_e, 1.0):
        raise ValidationError(
            "Kappa is undefined: chance agreement is 1 because both raters used a single category "
            "for every subject. Report percent agreement instead."
        )
    kappa = (p_o - p_e) / (1.0 - p_e)
    # Fleiss, Cohen & Everitt (1969), eqs. (9) and (13); with w = I they reduce to eqs. (5)-(6).
    w_row = w @ col  # wbar_i. = sum_j p_.j w_ij
    w_col = row @ w  # wbar_.j = sum_i p_i. w_ij
    wsum = w_row[:, None] + w_col[None, :]
    var = ((p * (w - wsum * (1.0 - kappa)) ** 2).sum() - (kappa - p_e * (1.0 - kappa)) ** 2) / (
        n * (1.0 - p_e) ** 2
    )
    var0 = ((np.outer(row, col) * (w - wsum) ** 2).sum() - p_e**2) / (n * (1.0 - p_e) ** 2)
    se, se0 = float(np.sqrt(max(var, 0.0))), float(np.sqrt(max(var0, 0.0)))
    z_crit = two_sided_z(level)
    z = kappa / se0 if se0 > 0 else (0.0 if kappa == 0 else np.copysign(np.inf, kappa))
    cats = tuple(categories) if categories is not None else tuple(range(k))
    return CohenKappaResult(
        kappa=float(kappa),
        p_observed=p_o,
        p_expected=p_e,
        se=se,
        ci_low=float(kappa - z_crit * se),
        ci_high=float(kappa + z_crit * se),
        se0=se0,
        z=float(z),
        p_value=float(2.0 * _dist.norm.sf(abs(z))),
        n=int(round(n)),
        level=level,
        weights="none" if weights is None else str(weights),
        categories=cats,
        table=tuple(tuple(int(v) for v in r) for r in counts),
    )


class _CohenKappa:
    """Callable ``cohen_kappa(rater_a, rater_b, ...)`` with ``cohen_kappa.from_table(table, ...)``."""

    def __call__(
        self,
        rater_a: ArrayLike,
        rater_b: ArrayLike,
        *,
        weights: str | None = None,
        categories: Sequence[Any] | None = None,
        scores: ArrayLike | None = None,
        level: float = 0.95,
    ) -> CohenKappaResult:
        """Cohen's kappa between two raters who rated the same subjects.

        Parameters
        ----------
        rater_a, rater_b : sequences of category labels, one per subject, in the same subject order.
        weights : None (unweighted), "linear" or "quadratic" agreement weights
            ``w_ij = 1 - |s_i - s_j| / (s_max - s_min)`` (squared for quadratic; Cicchetti-Allison
            and Fleiss-Cohen weights, as in SAS PROC FREQ, sklearn and irr ``kappa2``).
        categories : the category order (default: sorted labels observed in either rater).
            Categories nobody used are allowed; they change weighted kappa through the scores.
        scores : numeric score of each category for the weights (default: 0, 1, 2, ... in
            ``categories`` order, i.e. equally spaced).
        level : confidence level of ``ci_low``/``ci_high``.

        Returns
        -------
        CohenKappaResult
            Kappa, the non-null SE and Wald CI (Fleiss, Cohen & Everitt 1969), the SE under
            H0 and its z test (two-sided p).
        """
        a = as_1d("rater_a", rater_a)
        b = as_1d("rater_b", rater_b)
        check_same_length(rater_a=a, rater_b=b)
        for name, arr in (("rater_a", a), ("rater_b", b)):
            if arr.dtype.kind == "f" and np.isnan(arr).any():
                raise ValidationError(
                    f"{name} holds missing (NaN) ratings: drop subjects not rated by both raters."
                )
            if arr.dtype.kind == "O" and any(v is None for v in arr.tolist()):
                raise ValidationError(
                    f"{name} holds missing (None) ratings: drop subjects not rated by both raters."
                )
        if categories is None:
            cats = sorted(set(a.tolist()) | set(b.tolist()))
        else:
            cats = list(categories)
            if len(set(cats)) != len(cats):
                raise ValidationError("categories holds duplicates: list each category once.")
            unknown = (set(a.tolist()) | set(b.tolist())) - set(cats)
            if unknown:
                raise ValidationError(
                    f"Ratings {sorted(map(str, unknown))} are not among categories={cats!r}: add them or fix the data."
                )
        index = {c: i for i, c in enumerate(cats)}
        ia = np.fromiter((index[v] for v in a.tolist()), dtype=np.intp, count=len(a))
        ib = np.fromiter((index[v] for v in b.tolist()), dtype=np.intp, count=len(b))
        table = np.zeros((len(cats), len(cats)), dtype=np.int64)
        np.add.at(table, (ia, ib), 1)
        return _kappa_from_table(table, weights=weights, scores=scores, level=level, categories=cats)

    def from_table(
        self,
        table: ArrayLike,
        *,
        weights: str | None = None,
        categories: Sequence[Any] | None = None,
        scores: ArrayLike | None = None,
        level: float = 0.95,
    ) -> CohenKappaResult:
        """Cohen's kappa from a square table of counts (rows: rater A, columns: rater B).

        ``categories`` only labels the rows/columns; ``scores`` sets the weights' spacing
        (default equally spaced). See :func:`cohen_kappa` for the formulas.
        """
        k = np.asarray(table).shape[0] if np.asarray(table).ndim == 2 else 0
        if categories is not None and len(categories) != k:
            raise ValidationError(f"categories has {len(categories)} labels but the table has {k} rows.")
        return _kappa_from_table(table, weights=weights, scores=scores, level=level, categories=categories)


cohen_kappa = _CohenKappa()


@dataclass(frozen=True)
class FleissKappaResult(ResultMixin):
    """Fleiss' kappa for m raters per subject (Fleiss 1971) with the Fleiss-Nee-Landis (1979) null test.

    Attributes
    ----------
    kappa : (P_bar - P_bar_e) / (1 - P_bar_e).
    p_observed : P_bar, mean over subjects of the pairwise agreement P_i.
    p_expected : P_bar_e = sum_j p_j ** 2.
    category_proportions : p_j, share of all assignments that went to category j.
    subject_agreement : P_i for each subject.
    z, p_value : kappa / sqrt(var0) and its two-sided normal p-value, var0 from Fleiss, Nee &
        Landis (1979), the statistic printed by irr ``kappam.fleiss``.
    se0 : sqrt(var0).
    percent_agreement : percentage (0-100) of subjects on which all raters chose the same
        category (irr ``agree``, tolerance 0).
    kappa_free : Randolph's (2005) free-marginal multirater kappa ``(P_bar - 1/q) / (1 - 1/q)``,
        q the number of categories (columns of the table: pass ``categories`` to count categories
        nobody chose), for designs where raters were not told how many cases fall in each
        category (Brennan & Prediger 1981; statsmodels ``fleiss_kappa(method="randolph")``).
    n_subjects, n_raters : table dimensions.
    categories : category labels, in column order.
    """

    kappa: float
    p_observed: float
    p_expected: float
    category_proportions: tuple[float, ...]
    subject_agreement: tuple[float, ...]
    se0: float
    z: float
    p_value: float
    percent_agreement: float
    n_subjects: int
    n_raters: int
    categories: tuple[Any, ...]
    kappa_free: float


def _fleiss_from_counts(counts: NDArray[np.float64], categories: Sequence[Any]) -> FleissKappaResult:
    n_sub = counts.shape[0]
    m = float(counts[0].sum())
    total = n_sub * m
    p_j = counts.sum(axis=0) / total
    p_i = ((counts**2).sum(axis=1) - m) / (m * (m - 1.0))
    p_bar = float(p_i.mean())
    p_e = float((p_j**2).sum())
    if np.isclose(p_e, 1.0):
        raise ValidationError(
            "Fleiss' kappa is undefined: every rating fell in a single category. Report percent agreement instead."
        )
    kappa = (p_bar - p_e) / (1.0 - p_e)
    q_j = 1.0 - p_j
    pq = float((p_j * q_j).sum())
    var0 = 2.0 / (total * (m - 1.0)) * (pq**2 - float((p_j * q_j * (q_j - p_j)).sum())) / pq**2
    se0 = float(np.sqrt(var0))
    z = kappa / se0
    unanimous = (counts == m).any(axis=1)
    q = counts.shape[1]
    return FleissKappaResult(
        kappa=float(kappa),
        p_observed=p_bar,
        p_expected=p_e,
        category_proportions=tuple(float(v) for v in p_j),
        subject_agreement=tuple(float(v) for v in p_i),
        se0=se0,
        z=float(z),
        p_value=float(2.0 * _dist.norm.sf(abs(z))),
        percent_agreement=float(100.0 * unanimous.mean()),
        n_subjects=n_sub,
        n_raters=int(m),
        categories=tuple(categories),
        kappa_free=float((p_bar - 1.0 / q) / (1.0 - 1.0 / q)),
    )


def _check_counts(arr: NDArray[Any]) -> NDArray[np.float64]:
    if arr.ndim != 2:
        raise ValidationError(f"counts must be a subjects x categories table, got shape {arr.shape}.")
    if arr.shape[0] < 1 or arr.shape[1] < 2:
        raise ValidationError(f"counts needs at least one subject and two categories, got shape {arr.shape}.")
    try:
        c = arr.astype(np.float64)
    except (TypeError, ValueError):
        raise ValidationError(
            "counts holds non-numeric values (category labels?): this looks like raw ratings "
            "(subjects x raters); call fleiss_kappa(ratings) instead."
        ) from None
    if not np.isfinite(c).all():
        raise ValidationError(
            "counts holds NaN/inf: a count table cannot have missing cells; fill them with 0."
        )
    if (c < 0).any() or (c != np.round(c)).any():
        raise ValidationError(
            "counts must hold non-negative whole numbers (how many raters put subject i in category j); "
            "got negative or fractional values. If these are ratings, call fleiss_kappa(ratings)."
        )
    sums = c.sum(axis=1)
    if not np.all(sums == sums[0]):
        distinct = np.unique(sums)
        raise ValidationError(
            f"counts rows sum to different totals ({distinct[:5].tolist()}...): each row of a "
            "subjects x categories count table must sum to the number of raters. This looks like raw "
            "ratings (subjects x raters, one category per cell); call fleiss_kappa(ratings) instead "
            "(statsmodels issue 7657)."
        )
    if sums[0] < 2:
        raise ValidationError(f"Each subject needs at least two ratings; rows sum to {sums[0]:g}.")
    return c


class _FleissKappa:
    """Callable ``fleiss_kappa(ratings)`` with ``fleiss_kappa.from_counts(counts)``."""

    def __call__(self, ratings: ArrayLike, *, categories: Sequence[Any] | None = None) -> FleissKappaResult:
        """Fleiss' kappa from raw ratings.

        Parameters
        ----------
        ratings : subjects x raters array; ``ratings[i][r]`` is the category rater r gave subject i.
            Every subject must be rated by the same number of raters (not necessarily the same
            raters); missing ratings are not allowed.
        categories : optional category list. If omitted, the observed labels are used, and an
            input that looks like a subjects x categories *count* table (non-negative integers,
            at least one zero, every row with the same sum, rows not all identical) is refused,
            because it was probably meant for :meth:`from_counts`. Pass ``categories`` to
            force the ratings reading.

        Returns
        -------
        FleissKappaResult
        """
        arr = np.asarray(ratings)
        if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 2:
            raise ValidationError(
                f"ratings must be a subjects x raters table with at least two raters, got shape {arr.shape}."
            )
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise ValidationError(
                "ratings holds missing (NaN) values: Fleiss' kappa needs the same number of ratings per "
                "subject; drop incomplete subjects or use krippendorff_alpha, which allows missing data."
            )
        if arr.dtype.kind == "O" and any(v is None for v in arr.ravel().tolist()):
            raise ValidationError("ratings holds missing (None) values: drop incomplete subjects first.")
        if categories is None:
            if arr.dtype.kind in "iuf" and arr.shape[0] >= 2:
                vals = arr.astype(np.float64)
                sums = vals.sum(axis=1)
                looks_like_counts = (
                    (vals >= 0).all()
                    and (vals == np.round(vals)).all()
                    and (vals == 0).any()
                    and np.all(sums == sums[0])
                    and not np.all(vals == vals[0])
                )
                if looks_like_counts:
                    raise ValidationError(
                        f"ratings looks like a subjects x categories count table (every row sums to "
                        f"{sums[0]:g}, cells are counts): call fleiss_kappa.from_counts(counts). If these "
                        "really are category codes, pass categories=[...] to fleiss_kappa."
                    )
            cats: list[Any] = sorted(set(arr.ravel().tolist()))
        else:
            cats = list(categories)
            unknown = set(arr.ravel().tolist()) - set(cats)
            if unknown:
                raise ValidationError(
                    f"Ratings {sorted(map(str, unknown))} are not among categories={cats!r}."
                )
        index = {c: i for i, c in enumerate(cats)}
        codes = np.vectorize(index.__getitem__, otypes=[np.intp])(arr)
        counts = np.zeros((arr.shape[0], len(cats)), dtype=np.float64)
        np.add.at(counts, (np.repeat(np.arange(arr.shape[0]), arr.shape[1]), codes.ravel()), 1.0)
        if counts.shape[1] < 2:
            counts = np.hstack([counts, np.zeros((counts.shape[0], 1))])
            cats = [*cats, None]
        return _fleiss_from_counts(counts, cats)

    def from_counts(self, counts: ArrayLike, *, categories: Sequence[Any] | None = None) -> FleissKappaResult:
        """Fleiss' kappa from a subjects x categories table of counts.

        ``counts[i][j]`` is how many raters put subject i in category j; every row must sum to
        the same number of raters m >= 2. Raw ratings passed here are refused with a message
        (rows with unequal sums, non-integer or non-numeric cells).
        """
        c = _check_counts(np.asarray(counts))
        cats = list(categories) if categories is not None else list(range(c.shape[1]))
        if len(cats) != c.shape[1]:
            raise ValidationError(f"categories has {len(cats)} labels but counts has {c.shape[1]} columns.")
        return _fleiss_from_counts(c, cats)


fleiss_kappa = _FleissKappa()
