"""``vsbatch run --model blazhko``: the ResNet-34 Blazhko verdict of RRab light curves.

Runs in the model pass after the feature stages. Which light curves are RRab (the model card's
``rrab_selection``, editable with :func:`vsbatch.models.artifacts.annotate_artifact`):

- when the partition has a per-source column named by the run's ``--type-column``, else in the
  card's ``type_column`` (default ``type``, then ``label``; the first present wins; carried from
  the input), the sources whose value starts with ``type_prefix`` (``RRab``; ``RRab-BL`` too) --
  the default rule; a ``--type-column`` the input lacks is an error, never a silent fallback;
- otherwise a period/amplitude rule: ``period_min <= fold_period <= period_max`` and Fourier
  peak-to-peak ``amplitude >= amplitude_min`` (the amplitude condition is skipped when the
  fourier stage did not run).

The run's ``--blazhko-cuts`` (``paper``, ``paper-mc``; default ``none`` because the cuts
exclude sparse surveys such as ASAS) then drops the RRab that fail the sample cuts of the
paper's Section 2 (:func:`paper_sample_cuts`); they keep ``rrab_by`` and get the failed
criteria in ``cut_by``. Other light curves get nulls. The image follows the card's
representation (:mod:`vsbatch.represent.phased_image`) at ``fold_period``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from vsbatch.config import BLAZHKO_CUTS
from vsbatch.kernels.status import STATUS_REASONS, KernelStatus
from vsbatch.models.blazhko import p_bl
from vsbatch.represent.phased_image import ImageSpec, as_uint8, phased_images
from vsbatch.stages.context import StageContext
from vsbatch.stages.fourier import fold_period
from vsbatch.stages.models import ModelRef, version_tags

if TYPE_CHECKING:
    from vsbatch.models.loaded import Artifact

DEFAULT_SELECTION = {"type_column": ["type", "label"], "type_prefix": "RRab", "period_min": 0.35,
                     "period_max": 1.0, "amplitude_min": 0.3}  # fmt: skip


class SampleCuts(NamedTuple):
    """Which light curves pass the sample cuts, and the criteria each other one fails."""

    keep: np.ndarray  # bool
    failed: np.ndarray  # object: "n_obs > 350, mean_mag < 18" style; None where kept


def paper_sample_cuts(
    n_obs: np.ndarray, mean_mag: np.ndarray, *, mean_err: np.ndarray | None = None,
    amplitude: np.ndarray | None = None, period: np.ndarray | None = None, cuts: str = "paper",
) -> SampleCuts:  # fmt: skip
    """The sample cuts of Jiang et al. (2025) Section 2, on per-light-curve arrays.

    Why optional: they select well-sampled OGLE I-band light curves for the CNN (it degrades
    with fewer epochs, the paper's Sect. 5) and would drop nearly all ASAS or EROS stars.
    ``cuts="paper"`` (GB Sample 2): more than 350 epochs and mean magnitude below 18;
    ``cuts="paper-mc"`` (the MC Sample, worse photometry and blending) also mean error below
    0.025 mag, peak-to-peak amplitude above 0.2 mag and above ``-5 log10(P) - 1`` (P in days);
    ``cuts="none"`` keeps everything. A NaN value fails its criterion. In a notebook, from a
    catalog (``n_obs``, ``mag_mean``, ``amplitude``, ``fold_period``) plus the mean of the
    input's ``mag_err`` per light curve: ``paper_sample_cuts(df.n_obs, df.mag_mean,
    mean_err=err, amplitude=df.amplitude, period=df.fold_period, cuts="paper-mc").keep``.
    """
    if cuts not in BLAZHKO_CUTS:
        raise ValueError(f"cuts must be one of {BLAZHKO_CUTS}, not {cuts!r}")
    n_obs, mean_mag = np.asarray(n_obs), np.asarray(mean_mag, dtype=np.float64)
    tests = []
    if cuts != "none":
        tests += [("n_obs > 350", n_obs > 350), ("mean_mag < 18", mean_mag < 18.0)]
    if cuts == "paper-mc":
        if mean_err is None or amplitude is None or period is None:
            raise ValueError("cuts='paper-mc' needs mean_err, amplitude and period")
        amp = np.asarray(amplitude, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            pl_limit = -5.0 * np.log10(np.asarray(period, dtype=np.float64)) - 1.0
        tests += [("mean_err < 0.025", np.asarray(mean_err, dtype=np.float64) < 0.025),
                  ("amplitude > 0.2", amp > 0.2),
                  ("amplitude > -5 log10(P) - 1", amp > pl_limit)]  # fmt: skip
    keep = np.ones(len(mean_mag), dtype=bool)
    for _, ok in tests:
        keep &= ok
    failed = np.full(len(mean_mag), None, dtype=object)
    for i in np.flatnonzero(~keep):
        failed[i] = ", ".join(label for label, ok in tests if not ok[i])
    return SampleCuts(keep, failed)


def rrab_selection(ctx: StageContext, rule: dict, period: np.ndarray) -> np.ndarray:
    """Why each light curve is RRab (type column name or ``rule``), None when it is not.

    The run's ``type_column`` replaces the card's candidates and must exist.
    """
    names = rule["type_column"]
    names = [names] if isinstance(names, str) else list(names)
    if ctx.config.type_column is not None:
        names = [ctx.config.type_column]
        if names[0] not in ctx.columns:
            raise ValueError(
                f"--type-column {names[0]!r}: the input has no such per-source column (a "
                "column must be constant per source to be carried)"
            )
    column = next((c for c in names if c in ctx.columns), None)
    if column is not None:
        prefix = str(rule["type_prefix"]).lower()
        chosen = np.array([isinstance(v, str) and v.strip().lower().startswith(prefix)
                           for v in ctx.value(column)], dtype=bool)  # fmt: skip
        by = column
    else:
        with np.errstate(invalid="ignore"):
            chosen = (period >= rule["period_min"]) & (period <= rule["period_max"])
            if "amplitude" in ctx.columns:
                chosen &= ctx.value("amplitude").astype(np.float64) >= rule["amplitude_min"]
        by = "rule"
    return np.where(chosen, by, None).astype(object)


def run_sample_cuts(ctx: StageContext, period: np.ndarray) -> SampleCuts:
    """The run's ``blazhko_cuts`` on the partition's clean light curves (I-band in the paper;
    here whatever band each light curve is)."""
    n, counts = ctx.lcs.n_segments, ctx.lcs.counts
    seg = np.repeat(np.arange(n), counts)
    safe = np.maximum(counts, 1)
    amplitude = ctx.value("amplitude").astype(np.float64) if "amplitude" in ctx.columns \
        else np.full(n, np.nan)  # fmt: skip
    return paper_sample_cuts(
        counts, np.bincount(seg, ctx.lcs.mag, n) / safe,
        mean_err=np.bincount(seg, ctx.lcs.err, n) / safe, amplitude=amplitude, period=period,
        cuts=ctx.config.blazhko_cuts,
    )  # fmt: skip


def blazhko_columns(ctx: StageContext, ref: ModelRef, artifact: Artifact) -> dict[str, np.ndarray]:
    """P_BL, class, agreement with ``fa_class``, selection and cut reasons per light curve."""
    n = ctx.lcs.n_segments
    period, _ = fold_period(ctx)
    rule = {**DEFAULT_SELECTION, **artifact.card.get("rrab_selection", {})}
    by = rrab_selection(ctx, rule, period)
    rrab = np.not_equal(by, None)
    cuts = run_sample_cuts(ctx, period)
    cut_by = np.where(rrab, cuts.failed, None)
    idx = np.flatnonzero(rrab & cuts.keep)
    spec = ImageSpec.from_dict(artifact.card["representation"])
    out = phased_images(ctx.lcs.take(idx), period[idx], spec)
    stage = f"model:{ref.name}"
    for j in np.flatnonzero(out.status != KernelStatus.OK):
        reason = STATUS_REASONS[KernelStatus(int(out.status[j]))]
        ctx.fail(int(idx[j]), stage, f"no phased image: {reason}")
    ok = out.status == KernelStatus.OK
    p = np.full(n, np.nan)
    p[idx[ok]] = p_bl(artifact.model, as_uint8(out.images[ok]),
                      batch_size=ctx.config.model_batch_size, device="auto")  # fmt: skip
    scored = np.isfinite(p)
    cls = np.where(scored, np.where(p > 0.5, "BL", "nBL"), None).astype(object)
    agree = np.full(n, None, dtype=object)
    if "fa_class" in ctx.columns:
        fa = ctx.value("fa_class")
        has = scored & np.array([v is not None and v == v for v in fa], dtype=bool)
        for i in np.flatnonzero(has):
            agree[i] = bool((cls[i] == "BL") == (fa[i] in ("BL", "cBL/PC")))
    by[~scored & np.equal(cut_by, None)] = None  # no image (see failures), not cut
    return {
        f"{ref.prefix}_p_bl": p,
        f"{ref.prefix}_class": cls,
        f"{ref.prefix}_fa_agree": agree,
        f"{ref.prefix}_rrab_by": by,
        f"{ref.prefix}_cut_by": cut_by,
        f"{ref.prefix}_version": version_tags(ctx, ref),
    }
