"""``vsbatch run --model blazhko``: the ResNet-34 Blazhko verdict of RRab light curves.

Runs in the model pass after the feature stages. Which light curves are RRab (the model card's
``rrab_selection``, editable with :func:`vsbatch.models.artifacts.annotate_artifact`):

- when the partition has a per-source column named in ``type_column`` (default ``type``, then
  ``label``; the first present wins; carried from the input), the sources whose value starts
  with ``type_prefix`` (``RRab``; ``RRab-BL`` too) -- the issue's rule;
- otherwise a period/amplitude rule: ``period_min <= fold_period <= period_max`` and Fourier
  peak-to-peak ``amplitude >= amplitude_min`` (the amplitude condition is skipped when the
  fourier stage did not run);
- ``paper_cuts: true`` adds the sample cuts of the paper's Section 2 (:func:`paper_sample_cuts`),
  off by default because they exclude sparse surveys such as ASAS.

Other light curves get nulls. The image follows the card's representation
(:mod:`vsbatch.represent.phased_image`) at ``fold_period``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vsbatch.kernels.status import STATUS_REASONS, KernelStatus
from vsbatch.models.blazhko import p_bl
from vsbatch.represent.phased_image import ImageSpec, as_uint8, phased_images
from vsbatch.stages.context import StageContext
from vsbatch.stages.fourier import fold_period
from vsbatch.stages.models import ModelRef, version_tags

if TYPE_CHECKING:
    from vsbatch.models.artifacts import Artifact

DEFAULT_SELECTION = {"type_column": ["type", "label"], "type_prefix": "RRab", "period_min": 0.35,
                     "period_max": 1.0, "amplitude_min": 0.3, "paper_cuts": False}  # fmt: skip


def paper_sample_cuts(
    n_epochs: np.ndarray, mean_mag: np.ndarray, mean_err: np.ndarray, amplitude: np.ndarray,
    period: np.ndarray, *, mc_like: bool = False,
) -> np.ndarray:  # fmt: skip
    """The paper's Section 2 selection: mean I < 18 and > 350 points; for Magellanic-Cloud-like
    data also mean error < 0.025, amplitude > 0.2 and > -5 log10(P) - 1 (mag)."""
    keep = (mean_mag < 18.0) & (n_epochs > 350)
    if mc_like:
        with np.errstate(divide="ignore", invalid="ignore"):
            keep &= (mean_err < 0.025) & (amplitude > 0.2) & (amplitude > -5 * np.log10(period) - 1)
    return keep


def rrab_selection(ctx: StageContext, rule: dict, period: np.ndarray) -> np.ndarray:
    """Why each light curve is scored (type column name or ``rule``), None when it is not."""
    n = ctx.lcs.n_segments
    names = rule["type_column"]
    names = [names] if isinstance(names, str) else list(names)
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
    if rule.get("paper_cuts"):
        counts = ctx.lcs.counts
        seg = np.repeat(np.arange(n), counts)
        safe = np.maximum(counts, 1)
        mean_mag = np.bincount(seg, ctx.lcs.mag, n) / safe
        mean_err = np.bincount(seg, ctx.lcs.err, n) / safe
        amp = ctx.value("amplitude").astype(np.float64) if "amplitude" in ctx.columns \
            else np.full(n, np.nan)  # fmt: skip
        chosen &= paper_sample_cuts(counts, mean_mag, mean_err, amp, period,
                                    mc_like=rule.get("paper_cuts") == "mc")  # fmt: skip
    return np.where(chosen, by, None).astype(object)


def blazhko_columns(ctx: StageContext, ref: ModelRef, artifact: Artifact) -> dict[str, np.ndarray]:
    """P_BL, class, agreement with ``fa_class`` and the selection reason per light curve."""
    n = ctx.lcs.n_segments
    period, _ = fold_period(ctx)
    rule = {**DEFAULT_SELECTION, **artifact.card.get("rrab_selection", {})}
    by = rrab_selection(ctx, rule, period)
    idx = np.flatnonzero(by != None)  # noqa: E711 - elementwise on an object array
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
    by[~scored] = None
    return {
        f"{ref.prefix}_p_bl": p,
        f"{ref.prefix}_class": cls,
        f"{ref.prefix}_fa_agree": agree,
        f"{ref.prefix}_rrab_by": by,
        f"{ref.prefix}_version": version_tags(ctx, ref),
    }
