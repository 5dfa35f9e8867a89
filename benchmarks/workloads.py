"""Seeded synthetic light curves on realistic survey cadences (benchmarks and scale tests).

Cadence: a ground-based survey seen from one site — observing seasons of ``season_days`` per
year (the rest lost to the Sun), nights lost at random to weather, one epoch per clear night at
a jittered hour. Shapes: an RRab-like sawtooth (a real OGLE RRab's Fourier series), a sinusoid
(RRc/δ Sct-like) and a detached eclipsing binary. Errors grow with magnitude like a CCD
survey's; each point is scattered by its own error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

SHAPES = ("rrab", "sinusoid", "eclipsing")

# RRab shape: the first three harmonics of OGLE-BLG-RRLYR-02950 in the OGLE-III catalog
# (R21 = 0.521, phi21 = 4.257, R31 = 0.364, phi31 = 2.506, sine series), turned into the cosine
# convention used here: phi^c_k1 = phi^s_k1 + (k - 1) pi / 2.
_RRAB_R = np.array([1.0, 0.521, 0.364])
_RRAB_PHI = np.array([0.0, 4.257 + np.pi / 2, 2.506 + np.pi])


@dataclass(frozen=True)
class Workload:
    """Epochs in long format plus the truth for each source."""

    epochs: pa.Table  # source_id, time, mag, mag_err
    truth: pa.Table  # source_id, shape, period, amplitude, n_obs


def survey_cadence(
    rng: np.random.Generator,
    n_obs: int,
    baseline_days: float = 3000.0,
    season_days: float = 240.0,
) -> np.ndarray:
    """Sorted epochs (days): ``n_obs`` clear nights drawn from the observing seasons."""
    nights = np.arange(int(baseline_days))
    in_season = (nights % 365.25) < season_days
    candidates = nights[in_season]
    n_obs = min(n_obs, len(candidates))
    chosen = np.sort(rng.choice(candidates, size=n_obs, replace=False))
    return chosen + rng.uniform(0.15, 0.35, size=n_obs)  # hour of the night, as a day fraction


def periodic_shape(shape: str, phase: np.ndarray) -> np.ndarray:
    """Unit-amplitude (peak-to-peak 1) light-curve shape of ``phase`` in [0, 1)."""
    if shape == "sinusoid":
        y = np.cos(2 * np.pi * phase)
    elif shape == "rrab":
        k = np.arange(1, len(_RRAB_R) + 1)
        y = (_RRAB_R * np.cos(2 * np.pi * np.outer(phase, k) + _RRAB_PHI)).sum(axis=1)
    elif shape == "eclipsing":
        width = 0.04
        d1 = np.minimum(phase, 1 - phase)
        d2 = np.abs(phase - 0.5)
        y = np.exp(-0.5 * (d1 / width) ** 2) + 0.45 * np.exp(-0.5 * (d2 / width) ** 2)
    else:
        raise ValueError(f"unknown shape {shape!r}; choose one of {SHAPES}")
    return (y - y.min()) / np.ptp(y) if np.ptp(y) > 0 else y * 0


def make_workload(
    n_sources: int,
    seed: int = 0,
    median_epochs: int = 300,
    baseline_days: float = 3000.0,
    max_period_days: float = 10.0,
) -> Workload:
    """``n_sources`` periodic light curves with truth; the same seed gives the same table."""
    rng = np.random.default_rng(seed)
    ids, times, mags, errs = [], [], [], []
    truth = {"source_id": [], "shape": [], "period": [], "amplitude": [], "n_obs": []}
    for i in range(n_sources):
        n_obs = int(np.clip(rng.lognormal(np.log(median_epochs), 0.35), 30, 3 * median_epochs))
        t = survey_cadence(rng, n_obs, baseline_days)
        shape = SHAPES[rng.integers(len(SHAPES))]
        period = float(np.exp(rng.uniform(np.log(0.2), np.log(max_period_days))))
        amplitude = float(rng.uniform(0.1, 0.9))
        base = rng.uniform(13.0, 18.5)
        phase = (t / period + rng.uniform()) % 1.0
        clean = base + amplitude * periodic_shape(shape, phase)
        err = 0.005 + 0.02 * 10 ** (0.4 * (base - 17.0))
        err = err * rng.uniform(0.8, 1.2, size=len(t))
        ids.append(np.full(len(t), i, dtype=np.int64))
        times.append(t)
        mags.append(clean + rng.normal(0.0, err))
        errs.append(err)
        for key, value in zip(truth, (i, shape, period, amplitude, len(t)), strict=True):
            truth[key].append(value)
    epochs = pa.table(
        {
            "source_id": np.concatenate(ids),
            "time": np.concatenate(times),
            "mag": np.concatenate(mags),
            "mag_err": np.concatenate(errs),
        }
    )
    return Workload(epochs, pa.table(truth))
