"""NN-FAP against the Baluev FAP on the same light curves (Miller et al. 2022 Sect. 4, Table 1).

Both methods look at the same candidate: the best generalised Lomb-Scargle peak from
:func:`vsbatch.period_backends.search_periods` (its Baluev FAP is the classical answer, and
NN-FAP verifies the fold at that period), unless ``fold`` names a period column (e.g. a
catalog period) for NN-FAP. Scores for the ROC grow with periodicity: ``P(periodic) =
1 - NN-FAP`` and ``-log10 FAP_Baluev``. Curves NN-FAP cannot score (too few points) are left
out of both methods, so both AUCs are on exactly the same curves. ``nnfap`` scores the FAP the
catalog's ``nnfap_fap`` holds (1 on few-cycle folds), ``nnfap_network`` the network alone;
``groups`` compares the catalog's NN-FAP with the plain Baluev FAP.

``rules`` adds the paper's advice (Sect. 3.2: trust a fold only with at least two cycles) as a
post-processing applied to both methods alike: ``paper_cycles`` sets FAP = 1 where baseline x
frequency < 2; ``alias_cycles`` also where the fold is a spectral-window alias of such a fold
(:func:`vsbatch.represent.nnfap.fold_cycles`; a single transient folded at ``1 c/d + 1/T`` is one
clean bump, as at ``1/T``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from vsbatch.errors import UsageError
from vsbatch.kernels.status import KernelStatus
from vsbatch.models.artifacts import Artifact
from vsbatch.models.nnfap import NnfapPrediction, predict_nnfap
from vsbatch.period_backends import PeriodSearchResult, search_periods
from vsbatch.represent.nnfap import ALIAS_WINDOW_POWER, MIN_CYCLES, light_curves_from_table
from vsbatch.training.data import read_labelled
from vsbatch.training.metrics import evaluate_binary
from vsbatch.training.requests import EvaluateRequest, Evaluation

BALUEV_THRESHOLD = 2.0  # -log10 FAP: the "widely adopted" log10 FAP < -2 (paper Sect. 4.2)
NNFAP_THRESHOLD = 0.5  # P(periodic) >= 0.5, i.e. NN-FAP <= 0.5
POSITIVE = ("periodic", "1", "true")  # labels counted as periodic


@dataclass(frozen=True)
class NnfapEvaluation:
    """The report (also written as JSON) and the per-curve scores behind it."""

    report: dict
    per_curve: pa.Table  # source_id, band, label, group, frequency, nnfap_fap, log10_fap, ...
    json_path: Path | None
    png_path: Path | None


def evaluate_nnfap(
    artifact: Artifact,
    table: pa.Table,
    out_dir: str | Path | None = None,
    *,
    label_column: str = "label",
    positive_labels: tuple[str, ...] = POSITIVE,
    group_column: str | None = None,
    fold: str = "gls",
    maximum_frequency: float = 25.0,
    backend: str = "auto",
    batch_size: int = 1024,
    device: str = "auto",
    title: str = "NN-FAP vs Baluev FAP",
) -> NnfapEvaluation:
    """AUC, ACC, TPR, TNR, ... of NN-FAP and of the Baluev FAP, side by side.

    ``table`` is a long vsbatch input table with a per-source ``label_column``; a source is
    positive (periodic) when its label is in ``positive_labels``. ``group_column`` (per source)
    adds a per-group breakdown: each positive group against all negatives, each negative group
    against all positives. ``fold="gls"`` folds NN-FAP at the GLS best period; any other value
    names a period column (days), NaN there falling back to GLS. Writes ``nnfap_eval.json`` and
    ``nnfap_roc.png`` into ``out_dir`` when given.
    """
    extra = [label_column] + [c for c in (group_column,) if c]
    if fold != "gls":
        extra.append(fold)
    lcs, keys = light_curves_from_table(table, tuple(dict.fromkeys(extra)))
    labels = np.array([str(v) for v in keys.column(label_column).to_pylist()])
    y = np.isin(np.char.lower(labels), [p.lower() for p in positive_labels]).astype(np.int8)
    groups = (
        np.array([str(v) for v in keys.column(group_column).to_pylist()])
        if group_column
        else labels
    )
    search = search_periods(lcs, backend=backend, maximum_frequency=maximum_frequency)
    frequency, fold_source = _fold_frequency(search, keys, fold)
    pred = predict_nnfap(artifact, lcs, frequency, batch_size=batch_size, device=device)
    scored = pred.status == KernelStatus.OK
    p = np.where(scored, pred.p_periodic, np.nan)
    p_catalog = np.where(scored, 1.0 - pred.catalog_fap, np.nan)
    baluev = np.where(scored, -search.log10_fap, np.nan)
    unscored = np.unique(np.array(pred.reasons())[~scored], return_counts=True)
    report = {
        "model": artifact.version_tag,
        "fold": fold,
        "n_curves": int(lcs.n_segments),
        "n_scored": int(scored.sum()),
        "n_unscored": {r: int(c) for r, c in zip(*unscored, strict=True)},
        "nnfap": evaluate_binary(y, p_catalog, threshold=NNFAP_THRESHOLD),
        "nnfap_network": evaluate_binary(y, p, threshold=NNFAP_THRESHOLD),
        "baluev": evaluate_binary(y, baluev, threshold=BALUEV_THRESHOLD),
        "rules": {
            key: _rule(y, p, baluev, few & scored, text, groups)
            for key, (few, text) in _cycle_rules(pred).items()
        },
        "thresholds": {"nnfap": "NN-FAP <= 0.5", "baluev": "FAP_Baluev < 1e-2"},
        "groups": _groups(y, groups, p_catalog, baluev),
    }
    per_curve = pa.table(
        {
            "source_id": keys.column("source_id"),
            "band": keys.column("band"),
            "label": pa.array(labels),
            "group": pa.array(groups),
            "is_periodic": pa.array(y),
            "n_obs": pa.array(lcs.counts.astype(np.int32)),
            **_fold_columns(pred, search, frequency, fold_source),
        }
    )
    json_path, png_path = _write_report(report, out_dir, title)
    return NnfapEvaluation(report, per_curve, json_path, png_path)


def _fold_frequency(
    search: PeriodSearchResult, keys: pa.Table, fold: str
) -> tuple[np.ndarray, np.ndarray]:
    """The frequency NN-FAP folds each curve at and where it came from: the GLS best peak, or
    the ``fold`` period column where that holds a positive period."""
    frequency = search.frequency.copy()
    fold_source = np.full(len(frequency), "gls", dtype=object)
    if fold != "gls":
        period = keys.column(fold).to_numpy(zero_copy_only=False).astype(float)
        given = np.isfinite(period) & (period > 0)
        frequency[given] = 1.0 / period[given]
        fold_source[given] = fold
    return frequency, fold_source


def _cycle_rules(pred: NnfapPrediction) -> dict[str, tuple[np.ndarray, str]]:
    """The paper's advice (Miller et al. 2022 Sect. 3.2): a fold with fewer than two cycles
    verifies nothing; ``alias_cycles`` extends it to folds that are spectral-window aliases of
    such a fold. Per rule: the flagged curves and what the rule does."""
    return {
        "paper_cycles": (
            pred.n_cycles < MIN_CYCLES,
            f"baseline x frequency < {MIN_CYCLES:g} -> FAP = 1 (both methods)",
        ),
        "alias_cycles": (
            pred.few_cycles,
            f"fewer than {MIN_CYCLES:g} cycles, or a spectral-window peak >= "
            f"{ALIAS_WINDOW_POWER} within {MIN_CYCLES:g}/T of the fold frequency -> FAP = 1",
        ),
    }


def _fold_columns(
    pred: NnfapPrediction,
    search: PeriodSearchResult,
    frequency: np.ndarray,
    fold_source: np.ndarray,
) -> dict[str, pa.Array]:
    """Per-curve columns of the fold, NN-FAP's scores and the Baluev FAP."""
    return {
        "n_points": pa.array(pred.n_points),
        "gls_period": pa.array(search.period),
        "fold_period": pa.array(1.0 / frequency),
        "fold_source": pa.array(fold_source.astype(str)),
        "n_cycles": pa.array(pred.n_cycles),
        "alias_window": pa.array(pred.alias_window),
        "few_cycles": pa.array(pred.few_cycles),
        "nnfap_fap": pa.array(pred.catalog_fap),
        "nnfap_network_fap": pa.array(pred.fap),
        "nnfap_p_periodic": pa.array(pred.p_periodic),
        "log10_fap_baluev": pa.array(search.log10_fap),
        "status": pa.array(pred.status),
    }


def _write_report(
    report: dict, out_dir: str | Path | None, title: str
) -> tuple[Path | None, Path | None]:
    """``nnfap_eval.json`` and ``nnfap_roc.png`` in ``out_dir``; nothing without one."""
    if out_dir is None:
        return None, None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "nnfap_eval.json"
    json_path.write_text(json.dumps(_finite(report), indent=2) + "\n")
    png_path = out / "nnfap_roc.png"
    plot_roc(report, png_path, title)
    return json_path, png_path


def _groups(y: np.ndarray, groups: np.ndarray, p: np.ndarray, baluev: np.ndarray) -> dict:
    """Each group against the whole opposite class (a one-class group has no AUC alone)."""
    out = {}
    for g in sorted(set(groups.tolist())):
        mine = groups == g
        cls = round(float(y[mine].mean()))
        other = y != cls
        sel = mine | other
        ok = np.isfinite(p[mine])
        out[g] = {
            "class": "periodic" if cls else "aperiodic",
            "n": int(mine.sum()),
            "n_scored": int(ok.sum()),
            "AUC_nnfap": evaluate_binary(y[sel], p[sel])["AUC"],
            "AUC_baluev": evaluate_binary(y[sel], baluev[sel])["AUC"],
            "median_nnfap": float(np.nanmedian(1 - p[mine])) if ok.any() else None,
            "median_log10_fap_baluev": float(np.nanmedian(-baluev[mine])) if ok.any() else None,
            "frac_called_periodic_nnfap": float(np.mean(p[mine][ok] >= NNFAP_THRESHOLD))
            if ok.any()
            else None,
            "frac_called_periodic_baluev": float(np.mean(baluev[mine][ok] > BALUEV_THRESHOLD))
            if ok.any()
            else None,
        }
    return out


def _rule(
    y: np.ndarray, p: np.ndarray, baluev: np.ndarray, few: np.ndarray, text: str,
    groups: np.ndarray,
) -> dict:  # fmt: skip
    """Metrics when flagged folds get FAP = 1 (P(periodic) = 0, -log10 FAP = 0) in both."""
    p_rule, b_rule = np.where(few, 0.0, p), np.where(few, 0.0, baluev)
    return {
        "rule": text,
        "n_flagged": int(few.sum()),
        "n_flagged_periodic": int((few & (y == 1)).sum()),
        "n_flagged_aperiodic": int((few & (y == 0)).sum()),
        "nnfap": evaluate_binary(y, p_rule, threshold=NNFAP_THRESHOLD),
        "baluev": evaluate_binary(y, b_rule, threshold=BALUEV_THRESHOLD),
        "groups": _groups(y, groups, p_rule, b_rule),
    }


def _finite(value: object) -> object:
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def plot_roc(report: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    alias = report["rules"]["alias_cycles"]
    for res, key, label, style, colour in (
        (report, "nnfap_network", "NN-FAP network", "-", "C0"),
        (report, "baluev", "Baluev FAP", "-", "C1"),
        (report, "nnfap", "nnfap_fap (few-cycle folds -> 1)", "--", "C0"),
        (alias, "baluev", "Baluev, few-cycle folds -> 1", "--", "C1"),
    ):
        roc = res[key]["roc"]
        ax.plot(roc["fpr"], roc["tpr"], style, color=colour,
                label=f"{label} (AUC {res[key]['AUC']:.3f})")  # fmt: skip
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=0.8)
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluate_nnfap_request(artifact: Artifact, request: EvaluateRequest) -> Evaluation:
    """``vsbatch evaluate`` for an NN-FAP model: :func:`evaluate_nnfap` on a labelled catalog.

    Settings (``--set``): ``fold`` (``gls`` or a period column), ``maximum_frequency`` (c/d),
    ``backend``, ``positive`` (comma-separated labels counted as periodic).
    """
    known = {"fold", "maximum_frequency", "backend", "positive"}
    unknown = set(request.params) - known
    if unknown:
        raise UsageError(
            f"unknown nnfap evaluation settings {sorted(unknown)}; known: {sorted(known)}"
        )
    p = request.param
    result = evaluate_nnfap(
        artifact,
        read_labelled(request.data),
        request.out_dir,
        label_column=request.label_column,
        group_column=request.group_column,
        fold=str(p("fold", "gls")),
        maximum_frequency=float(p("maximum_frequency", 25.0, float)),
        backend=str(p("backend", "auto")),
        positive_labels=tuple(str(p("positive", ",".join(POSITIVE), str)).split(",")),
    )
    return Evaluation(result.report, (result.json_path, result.png_path))
