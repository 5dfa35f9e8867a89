"""``vartype`` in runs: the partition's own catalog columns, by band role, into the booster.

The model reads what the run's feature stages wrote (stats, period, fourier; multiband when
it ran), so it needs those stages; a run without them gets nulls and a failure record per
light curve saying which columns were missing, never a silent guess.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vsbatch.models.vartype import BAND_COLUMNS, INPUT_COLUMNS, source_features
from vsbatch.stages.classify import class_columns
from vsbatch.stages.context import StageContext
from vsbatch.stages.models import ModelRef, version_tags

if TYPE_CHECKING:
    from vsbatch.models.loaded import Artifact

UNKNOWN = "unknown"


def labelled_columns(
    prefix: str, class_names: list[str], proba: np.ndarray, ok: np.ndarray, threshold: float
) -> dict[str, np.ndarray]:
    """``<prefix>_class`` ('unknown' under ``threshold``), ``_p_<class>`` and ``_p_max``."""
    out = class_columns(prefix, class_names, proba, ok)
    p_max = np.where(ok, np.nan_to_num(proba, nan=0.0).max(axis=1, initial=0.0), np.nan)
    out[f"{prefix}_class"] = np.where(ok & (p_max < threshold), UNKNOWN, out[f"{prefix}_class"])
    out[f"{prefix}_p_max"] = p_max
    return out


def vartype_columns(ctx: StageContext, ref: ModelRef, artifact: Artifact) -> dict[str, np.ndarray]:
    """Columns of ``vartype``: one prediction per source, repeated on its rows."""
    card = artifact.card
    class_names = list(card["class_names"])
    sidx = ctx.source_index()
    n_src = int(sidx.max()) + 1 if len(sidx) else 0
    proba = np.full((n_src, len(class_names)), np.nan)
    missing = [c for c in BAND_COLUMNS if c not in ctx.columns]
    if missing:
        ok = np.zeros(n_src, bool)
        reason = f"needs the stats, period and fourier stages (missing {', '.join(missing)})"
    else:
        columns = {c: ctx.columns[c] for c in INPUT_COLUMNS if c in ctx.columns}
        roles = card["representation"]["band_roles"]
        feats = source_features(columns, ctx.value("band"), sidx, roles)
        ok = feats.ok
        if ok.any():
            proba[ok] = artifact.model.predict_proba(feats.x[ok])
        reason = f"no light curve in a band the model maps to a role ({', '.join(sorted(roles))})"
    seg_ok = ok[sidx]
    for i in np.flatnonzero(~seg_ok):
        ctx.fail(int(i), f"model:{ref.name}", reason)
    threshold = float(card["architecture"]["unknown_threshold"])
    return {
        **labelled_columns(ref.prefix, class_names, proba[sidx], seg_ok, threshold),
        f"{ref.prefix}_version": version_tags(ctx, ref),
    }
