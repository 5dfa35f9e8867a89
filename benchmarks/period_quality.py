"""Periods and amplitudes the data cannot support, counted on samples of the real sets.

For each set: a seeded sample of sources is run through ``vsbatch.run`` (stages stats,
period, fourier, freqanalysis; no cluster) and the rows with a period longer than their time
span, or a Fourier amplitude beyond the observed magnitude range, are counted, with the
``period_quality`` labels and ``fa_class`` / ``fa_skipped`` where the code has them (so the
same script measures an older checkout). Plus a 999-d linear trend.

    python -m benchmarks.period_quality [--sources 40] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.shared_data import OGLE2_MICROLENSING, SHARED_LIGHT_CURVES, shared_data_dir
from vsbatch import RunConfig, open_catalog, run
from vsbatch.cluster import ClusterSpec

SETS = {**SHARED_LIGHT_CURVES, "ogle2-ml": OGLE2_MICROLENSING,
        "ztf-snia": "ztf-bts-snia/lightcurves.parquet",
        "misc": "misc-small/lightcurves.parquet"}  # fmt: skip
STAGES = ("stats", "period", "fourier", "freqanalysis")
COLUMNS = ["source_id", "band", "mag", "mag_err", "time"]


def _sample(path: Path, n_sources: int, seed: int) -> pd.DataFrame:
    df = pd.read_parquet(path, columns=COLUMNS)
    ids = np.sort(df["source_id"].unique())
    chosen = np.random.default_rng(seed).choice(ids, min(n_sources, len(ids)), replace=False)
    return df[df["source_id"].isin(chosen)]


def _trend() -> pd.DataFrame:
    """A 1.5-mag linear trend over 999 d, 200 epochs, 0.02 mag noise."""
    rng = np.random.default_rng(18)
    t = np.sort(rng.uniform(0.0, 999.0, 200))
    mag = 15.0 + 1.5 * t / 999 + 0.02 * rng.standard_normal(t.size)
    return pd.DataFrame({"source_id": "trend", "band": "V", "mag": mag,
                         "mag_err": 0.02, "time": t})  # fmt: skip


def measure(df: pd.DataFrame, work: Path, name: str, **options: str) -> dict:
    """Run the stages on ``df``; count the rows beyond their span or range."""
    source = work / f"{name}.parquet"
    df.to_parquet(source, index=False)
    config = RunConfig(stages=STAGES, **options)
    out = work / f"{name}-catalog"
    run(str(source), out, config, ClusterSpec(cluster="none"), overwrite=True)
    cat = open_catalog(out).to_pandas()
    good = df[np.isfinite(df["mag"]) & (df["mag_err"] > 0)]
    observed = good.groupby(["source_id", "band"])["mag"].agg(lambda m: m.max() - m.min())
    cat = cat.join(observed.rename("observed_range"), on=["source_id", "band"])
    row = {
        "rows": len(cat),
        "with_period": int(cat["period"].notna().sum()),
        "period_beyond_span": int((cat["period"] > cat["time_span"] * (1 + 1e-9)).sum()),
        "amplitude_beyond_range": int((cat["amplitude"] > cat["observed_range"]).sum()),
        "max_period_over_span": float((cat["period"] / cat["time_span"]).max()),
        "max_amplitude": float(cat["amplitude"].max()),
    }
    for column in ("period_quality", "fa_class", "fa_skipped"):
        if column in cat:
            values = cat[column].fillna("null").astype(str)
            if column == "fa_skipped":
                values = values.str.replace(r"period .* outside", "period outside", regex=True)
            row[column] = dict(Counter(values))
    if name == "trend":
        row.update(cat[["period", "log10_fap_baluev", "amplitude"]].iloc[0].to_dict())
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=40, help="sources sampled per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="the shared data folder")
    parser.add_argument("--detrend", default=None, help="also run the trend with this option")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    root = shared_data_dir(args.data)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results["trend"] = measure(_trend(), work, "trend")
        if args.detrend:
            results["trend-detrended"] = measure(_trend(), work, "trend", detrend=args.detrend)
        for name, relative in SETS.items():
            if (root / relative).exists():
                sample = _sample(root / relative, args.sources, args.seed)
                results[name] = measure(sample, work, name)
    if args.json:
        print(json.dumps(results, indent=1, default=str))
        return
    for name, row in results.items():
        print(name, row)


if __name__ == "__main__":
    main()
