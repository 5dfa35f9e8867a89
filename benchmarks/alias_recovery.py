"""``python -m benchmarks alias-recovery``: alias-aware period choice on real light curves.

Runs the real pipeline (``vsbatch.run``, stages period and multiband) on the SDSS Stripe 82
RR Lyrae and a seeded sample of the EROS-1 LMC RR Lyrae, and reports, per seeded half of the
stars (``tune``: the half the model settings were chosen on; ``report``: the other), the
fraction whose period is within 0.1 % of the published one, and how well the misses are
flagged: by ``period_alias_flag`` and by a small Δχ² (``delta_chi2_* < DELTA_CHI2_FLAG``).
Columns the checked-out vsbatch lacks are skipped, so the same script measures older code
(``PYTHONPATH=OLD_CHECKOUT python benchmarks/alias_recovery.py``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.shared_data import EROS_SOURCES, SHARED_LIGHT_CURVES, shared_data_dir
from vsbatch.cluster import ClusterSpec
from vsbatch.config import RunConfig
from vsbatch.io.catalog import open_catalog
from vsbatch.pipeline import run

RELATIVE_TOLERANCE = 1e-3
DELTA_CHI2_FLAG = 10.0  # BIC difference below which two periods count as ambiguous
SPLIT_SEED = 18


def _halves(ids: np.ndarray) -> dict[str, str]:
    """Seeded split of the sorted ids: the first half tunes, the second reports."""
    ids = np.array(sorted(ids))
    np.random.default_rng(SPLIT_SEED).shuffle(ids)
    half = len(ids) // 2
    return {sid: ("tune" if i < half else "report") for i, sid in enumerate(ids)}


def _catalog(df: pd.DataFrame, work: Path, name: str) -> pd.DataFrame:
    src = work / f"{name}.parquet"
    df.drop(columns=[c for c in ("period", "label") if c in df.columns]).to_parquet(src)
    run(str(src), work / name, RunConfig(stages=("stats", "period", "multiband")), ClusterSpec())
    return open_catalog(work / name).to_pandas()


def _rows(cat: pd.DataFrame, truth: pd.Series, dataset: str, halves: dict) -> list[dict]:
    """Recovery and flag precision / recall of every band's period and the multiband one."""
    cat = cat.assign(published=cat.source_id.map(truth), half=cat.source_id.map(halves))
    jobs = [(f"period[{b}]", g, "period", "delta_chi2_period") for b, g in cat.groupby("band")]
    multi = cat.drop_duplicates("source_id")
    jobs.append(("period_multiband", multi, "period_multiband", "delta_chi2_multiband"))
    rows = []
    for column, table, col, delta in jobs:
        for half, g in [("all", table), *table.groupby("half")]:
            hit = (g[col] / g.published - 1).abs() < RELATIVE_TOLERANCE
            row = {"dataset": dataset, "half": half, "column": column, "n": len(g)}
            row["recovered"] = float(hit.mean())
            flags = {"alias_flag": g.period_alias_flag != 0}
            if delta in g:
                flags["small_delta_chi2"] = g[delta] < DELTA_CHI2_FLAG
            for name, flag in flags.items():
                row[f"{name}_precision"] = float((~hit[flag]).mean()) if flag.any() else np.nan
                row[f"{name}_recall"] = float(flag[~hit].mean()) if (~hit).any() else np.nan
            rows.append(row)
    return rows


def recovery(data: Path, n_eros: int) -> pd.DataFrame:
    """The recovery table of Stripe 82 (all stars) and ``n_eros`` seeded EROS-1 RR Lyrae."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="vsbatch-alias-") as tmp:
        s82 = pd.read_parquet(data / SHARED_LIGHT_CURVES["s82"])
        truth = s82.groupby("source_id").period.first()
        rows += _rows(_catalog(s82, Path(tmp), "s82"), truth, "S82", _halves(truth.index))
        eros = pd.read_parquet(data / SHARED_LIGHT_CURVES["eros"])
        eros = eros[eros.label == "rr_lyrae"]
        ids = np.array(sorted(eros.source_id.unique()))
        ids = np.random.default_rng(SPLIT_SEED).choice(ids, min(n_eros, len(ids)), replace=False)
        eros = eros[eros.source_id.isin(ids)]
        kit = pd.read_parquet(data / EROS_SOURCES)
        truth = kit.set_index("source_id").period_kit
        rows += _rows(_catalog(eros, Path(tmp), "eros"), truth, "EROS-1 RRL", _halves(ids))
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks alias-recovery [--data DIR] [--eros N]``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks alias-recovery")
    parser.add_argument("--data", help="folder of the labelled sets (default: the shared data)")
    parser.add_argument("--eros", type=int, default=300, help="EROS-1 RR Lyrae sampled")
    args = parser.parse_args(argv)
    table = recovery(shared_data_dir(args.data), args.eros)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
