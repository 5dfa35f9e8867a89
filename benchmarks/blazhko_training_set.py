"""A labelled Blazhko / non-Blazhko RRab training set built from real data.

Why synthetic: the paper (Jiang et al. 2025) trains on 8,186 OGLE bulge RRab
labelled by the PS17 frequency analysis; no public OGLE light curves with Blazhko labels are
available here (the OGLE tables of the shared data folder carry no Blazhko flags and the 79
labelled ASAS RRab are not among the stored light curves). So every ingredient is real except
the modulation, which follows the standard model of the literature:

- **Pulsation shape**: period P, peak-to-peak I amplitude A and the low-order Fourier
  parameters R21, phi21, R31, phi31 of a real RRab drawn from the OGLE-III catalog (31k
  RRab, bulge + LMC + SMC) and the OGLE-IV Galactic-disk RRab table
  (``ogle-catalogue-tables``, both in the OGLE cosine convention vsbatch's Fourier kernel
  uses). Orders 4..10 (R_k1, phi_k1) come from 10th-order fits (vsbatch's kernel) to real RRab
  light curves: the five OGLE-III/IV bulge RRab of ``ogle-blg-rrab`` at their OGLE-III
  periods; each star takes the template nearest in (R21, R31).
- **Blazhko modulation** (Benko et al. 2011 amplitude + phase modulation model)::

      m(t) = m0 + [1 + h sin(2 pi f_m t + a)] S(f0 t + (beta / 2 pi) sin(2 pi f_m t + b))

  with ``S`` the shape above (peak-to-peak A). The modulation frequency f_m spans the
  literature's 0.0001-0.2 c/d (P_BL 5 d .. 10^4 d), log10 P_BL ~ N(1.8, 0.5) clipped to that
  range (most known P_BL are 20-200 d); the amplitude modulation ``dA = 2 h A`` (peak-to-peak
  change of the pulsation amplitude, mag) is log-uniform from 0.02 to 0.6 mag (the paper's
  "a few hundredths to over 0.5 mag"), h <= 0.9; the phase modulation beta is log-uniform
  0.005-0.3 rad; ``pure_phase_fraction`` of the BL stars have amplitude modulation <= 0.02
  mag (phase-modulation-dominated stars). Many BL stars are therefore hard: small dA, a
  baseline shorter than a modulation cycle, or survey noise larger than the modulation --
  the low-amplitude and noisy cases the paper says the CNN struggles with. ``bl_cycles``
  (baseline x f_m) and ``mod_amp`` are carried so results can be split by difficulty.
- **Cadences and errors**: the time stamps of a real light curve of OGLE (bulge RRab,
  a contiguous window of 350-2,000 epochs), ASAS (I band, whole curve), SDSS Stripe 82 (one of
  ugriz, whole curve) or EROS-1 (B or R band, whole curve); the mean magnitude is that real
  star's median, every point's error is drawn among the real (mag, err) pairs of that survey
  and band nearest in magnitude
  (:class:`vsbatch.training.injection.ErrorLookup`, the NN-FAP generator's look-up) and the point is
  scattered by it.

- **Detectable labels**: the paper's labels are PS17 detections, so a modulation the data
  cannot show is not a BL star to learn from. ``mod_chi2`` is the chi2, with the drawn
  errors, of the noise-free modulated magnitudes about their own best 10th-order series at the
  pulsation period: the signal the modulation leaves for a frequency analysis. A sinusoid of
  amplitude a in N points with noise sigma has chi2 N a^2 / (2 sigma^2) and reaches S/N 4 in
  the amplitude spectrum (mean noise sigma sqrt(pi / N), Breger et al. 1993) at chi2 = 8 pi;
  ``label_detectable`` is BL when the star is modulated and ``mod_chi2 >= 8 pi``, else nBL.
  On OGLE cadences nearly every injected modulation passes, on ASAS and Stripe 82 about half,
  on EROS-1 (0.1-0.2 mag errors) almost none. The threshold is lenient: the power is spread
  over several side peaks, and PS17 needs one of them at S/N 4.

The output is an ordinary vsbatch input catalog (long format): ``source_id, time, mag,
mag_err, band``, ``label`` (BL / nBL as injected), ``label_detectable``, ``type`` (RRab),
``period`` (the true pulsation period; a run calls it ``catalog_period`` and folds on it, as
the paper folds on OGLE periods) and the generator's per-source truth: ``survey``,
``true_amplitude`` (OGLE peak-to-peak I), ``f_bl``, ``mod_amp``, ``mod_chi2``, ``phase_mod``,
``bl_cycles``, ``template_id``, ``ogle_id``.

Run ``python -m benchmarks blazhko-training-set OUT.parquet --n 3000 --seed 0`` (``--surveys
ogle=0.7,asas=0.15,eros=0.15`` changes the cadence mix; ``--data DIR`` the data folder).
"""

from __future__ import annotations

import argparse
import bz2
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.shared_data import (
    OGLE3_CATALOG,
    OGLE4_DISK_RRAB,
    SHARED_LIGHT_CURVES,
    shared_data_dir,
)
from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.fourier import TWO_PI, fit_fourier
from vsbatch.represent.nnfap import light_curves_from_table
from vsbatch.training.injection import Cadences

ORDER = 10
MIN_DOF = 10  # degrees of freedom every 10th-order fit here keeps (fit_fourier's min_dof)
F_BL_RANGE = (1e-4, 0.2)  # c/d, the paper's introduction
LOG10_PBL = (1.8, 0.5)  # mean, sd of log10 P_BL (days)
MOD_AMP_RANGE = (0.02, 0.6)  # mag, peak-to-peak change of the pulsation amplitude
PHASE_MOD_RANGE = (0.005, 0.3)  # rad
MAX_H = 0.9
OGLE_WINDOW = (350, 2000)  # epochs of an OGLE cadence window
SURVEYS = {"ogle": 0.4, "asas": 0.3, "s82": 0.15, "eros": 0.15}
DETECTION_CHI2 = 8 * np.pi  # one sinusoid at S/N 4 in the amplitude spectrum (docstring)


@dataclass(frozen=True)
class RrabShapes:
    """Real RRab parameters (one row per star) and higher-order templates from real fits."""

    params: pd.DataFrame  # ogle_id, I, P, A, R21, phi21, R31, phi31
    ratios: np.ndarray  # (n_templates, ORDER) R_k1 (R_11 = 1)
    phases: np.ndarray  # (n_templates, ORDER) phi_k1 (phi_11 = 0), rad
    template_ids: list[str]


def ogle_rrab_parameters(root: str | Path | None = None) -> pd.DataFrame:
    """P, A(I), R21, phi21, R31, phi31 of the OGLE-III and OGLE-IV disk RRab, complete rows
    in the RRab ranges only (``root``: the shared data folder by default)."""
    root = shared_data_dir(root)
    cols = ["ogle_id", "I", "P", "A", "R21", "phi21", "R31", "phi31"]
    o4 = pd.read_csv(root / OGLE4_DISK_RRAB, sep=r"\s+", header=None,
                     names=["ogle_id", "I", "V", "P", "dP", "T0", "A", "R21", "phi21", "R31",
                            "phi31"], na_values=["-"])  # fmt: skip
    with bz2.open(root / OGLE3_CATALOG, "rt") as fh:
        lines = [line for line in fh if line.startswith("# ID\t") or "\tRRab\t" in line]
    header = lines[0][2:].rstrip("\n").split("\t")
    o3 = pd.read_csv(io.StringIO("".join(lines[1:])), sep="\t", names=header, dtype=str)
    o3 = o3[o3.Subtype == "RRab"].rename(columns={"ID": "ogle_id", "P_1": "P", "A_1": "A",
        "R21_1": "R21", "phi21_1": "phi21", "R31_1": "R31", "phi31_1": "phi31"})  # fmt: skip
    o3 = o3[cols].astype({c: float for c in cols[1:]}).replace(-99.99, np.nan)
    both = pd.concat([o3, o4[cols]], ignore_index=True).dropna()
    ok = both.P.between(0.25, 1.2) & both.A.between(0.05, 1.5) & both.R21.between(0.05, 1.0)
    return both[ok & both.R31.between(0.0, 1.0)].reset_index(drop=True)


def rrab_shapes(root: str | Path | None = None) -> RrabShapes:
    """Real parameters plus R_k1, phi_k1 (k <= 10) of 10th-order fits to real OGLE RRab."""
    root = shared_data_dir(root)
    params = ogle_rrab_parameters(root)
    table = pq.read_table(root / SHARED_LIGHT_CURVES["ogle"])
    lcs, keys = light_curves_from_table(table)
    ids = [str(v) for v in keys.column("source_id").to_pylist()]
    period = params.set_index("ogle_id").P.reindex(ids).to_numpy()
    fit = fit_fourier(lcs, 1.0 / period, order=ORDER, clip_threshold=0.35)
    good = (fit.status == 0) & (fit.order_used == ORDER)
    amp, phi = fit.amplitude[good], fit.phase[good]
    k = np.arange(1, ORDER + 1)
    ratios = amp / amp[:, :1]
    phases = np.mod(phi - k[None, :] * phi[:, :1], TWO_PI)
    return RrabShapes(params, ratios, phases, [i for i, g in zip(ids, good, strict=True) if g])


def read_cadences(survey: str, root: str | Path | None = None) -> Cadences:
    """Real cadences and (mag, err) pairs of ``survey`` (ogle, asas, s82 or eros), long enough
    for the 10th-order fit."""
    table = pq.read_table(shared_data_dir(root) / SHARED_LIGHT_CURVES[survey],
                          columns=["source_id", "time", "mag", "mag_err", "band"])  # fmt: skip
    cadences = Cadences.from_table(table)
    return cadences.take(np.flatnonzero(cadences.lcs.counts >= 2 * ORDER + 1 + MIN_DOF))


def pulsation_shape(amplitudes: np.ndarray, phases: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """``sum_k A_k cos(2 pi k theta + phi_k)`` (OGLE cosine convention), theta in cycles."""
    out = np.zeros_like(theta, dtype=np.float64)
    for k in range(amplitudes.size):
        out += amplitudes[k] * np.cos(TWO_PI * (k + 1) * theta + phases[k])
    return out


def modulated_magnitudes(
    t: np.ndarray,
    *,
    m0: float,
    period: float,
    amplitudes: np.ndarray,
    phases: np.ndarray,
    f_bl: float = 0.0,
    h: float = 0.0,
    beta: float = 0.0,
    phi_a: float = 0.0,
    phi_b: float = 0.0,
) -> np.ndarray:
    """Noise-free magnitudes of an RRab with amplitude (h) and phase (beta, rad) modulation."""
    mod = TWO_PI * f_bl * t
    theta = t / period + beta / TWO_PI * np.sin(mod + phi_b)
    return m0 + (1.0 + h * np.sin(mod + phi_a)) * pulsation_shape(amplitudes, phases, theta)


def modulation_chi2(noise_free: LightCurves, period: np.ndarray) -> np.ndarray:
    """chi2 (with the errors in ``noise_free.err``) of noise-free magnitudes about their own
    best 10th-order series at ``period``: what a modulation leaves once the mean curve is
    removed (0 for an unmodulated star). Every curve needs 2 ORDER + 1 + MIN_DOF epochs."""
    fit = fit_fourier(noise_free, 1.0 / period, order=ORDER, clip_iterations=0, min_dof=MIN_DOF)
    failed = np.flatnonzero((fit.status != 0) | (fit.order_used != ORDER))
    if failed.size:
        raise ValueError(
            f"no 10th-order fit for light curves {failed[:5].tolist()} (too few epochs or a "
            f"singular design); cadences need {2 * ORDER + 1 + MIN_DOF}"
        )
    return fit.chi2_reduced * (fit.n_used - (2 * ORDER + 1))


def _shape_coefficients(row: pd.Series, shapes: RrabShapes, rng: np.random.Generator
                        ) -> tuple[np.ndarray, np.ndarray, str]:  # fmt: skip
    """Amplitudes and phases of the series with peak-to-peak ``row.A`` (real low orders)."""
    j = int(np.argmin((shapes.ratios[:, 1] - row.R21) ** 2 + (shapes.ratios[:, 2] - row.R31) ** 2))
    ratios, rel = shapes.ratios[j].copy(), shapes.phases[j].copy()
    ratios[1:3] = row.R21, row.R31
    rel[1:3] = row.phi21, row.phi31
    phi1 = rng.uniform(0, TWO_PI)
    k = np.arange(1, ORDER + 1)
    phases = rel + k * phi1
    grid = np.linspace(0.0, 1.0, 2000, endpoint=False)
    ptp = np.ptp(pulsation_shape(ratios, phases, grid))
    return ratios * row.A / ptp, phases, shapes.template_ids[j]


def _draw_modulation(rng: np.random.Generator, amplitude: float, baseline: float,
                     pure_phase_fraction: float) -> tuple[dict, dict]:  # fmt: skip
    """Blazhko parameters of one modulated star of pulsation amplitude ``amplitude`` (mag):
    the keyword arguments of :func:`modulated_magnitudes` and the truth columns."""
    p_bl = 10 ** np.clip(rng.normal(*LOG10_PBL), -np.log10(F_BL_RANGE[1]),
                         -np.log10(F_BL_RANGE[0]))  # fmt: skip
    lo_amp = MOD_AMP_RANGE[0] / 4 if rng.random() < pure_phase_fraction else None
    d_amp = (rng.uniform(0.0, MOD_AMP_RANGE[0]) if lo_amp is not None
             else np.exp(rng.uniform(*np.log(MOD_AMP_RANGE))))  # fmt: skip
    h = min(d_amp / (2 * amplitude), MAX_H)
    beta = float(np.exp(rng.uniform(*np.log(PHASE_MOD_RANGE))))
    phi_a = rng.uniform(0, TWO_PI)
    kwargs = dict(f_bl=1.0 / p_bl, h=h, beta=beta, phi_a=phi_a,
                  phi_b=phi_a + rng.normal(0.0, 1.0))  # fmt: skip
    truth = {"f_bl": 1.0 / p_bl, "mod_amp": 2 * h * amplitude, "phase_mod": beta,
             "bl_cycles": baseline / p_bl}  # fmt: skip
    return kwargs, truth


def make_blazhko_training_set(
    n: int = 3000,
    *,
    seed: int = 0,
    bl_fraction: float = 0.5,
    pure_phase_fraction: float = 0.1,
    surveys: dict[str, float] | None = None,
    root: str | Path | None = None,
    shapes: RrabShapes | None = None,
) -> pa.Table:
    """``n`` labelled RRab light curves (long format), ``bl_fraction`` of them modulated.

    ``root`` is the shared data folder by default; ``shapes`` defaults to :func:`rrab_shapes`
    of ``root`` (OGLE-III + OGLE-IV parameters).
    """
    root = shared_data_dir(root)
    rng = np.random.default_rng(seed)
    weights = surveys or SURVEYS
    names = list(weights)
    shapes = shapes or rrab_shapes(root)
    cadences = {s: read_cadences(s, root) for s in names}
    p = np.array([weights[s] for s in names], float)
    survey_of = rng.choice(len(names), size=n, p=p / p.sum())
    is_bl = rng.permutation(np.arange(n) < round(bl_fraction * n))
    parts: dict[str, list] = {c: [] for c in ("time", "mag", "mag_err")}
    noise_free: list[np.ndarray] = []
    meta: list[dict] = []
    for i in range(n):
        survey = names[survey_of[i]]
        cad = cadences[survey]
        c = int(rng.integers(cad.lcs.n_segments))
        t, m_real, _ = cad.lcs.segment(c)
        if survey == "ogle":
            size = int(np.exp(rng.uniform(*np.log(OGLE_WINDOW))))
            start = int(rng.integers(0, max(t.size - size, 0) + 1))
            t, m_real = t[start : start + size], m_real[start : start + size]
        row = shapes.params.iloc[int(rng.integers(len(shapes.params)))]
        amps, phases, tpl = _shape_coefficients(row, shapes, rng)
        truth = {"f_bl": np.nan, "mod_amp": 0.0, "phase_mod": 0.0, "bl_cycles": 0.0}
        kwargs: dict = {}
        if is_bl[i]:
            kwargs, truth = _draw_modulation(rng, float(row.A), t[-1] - t[0], pure_phase_fraction)
        clean = modulated_magnitudes(t, m0=float(np.median(m_real)),
                                     period=float(row.P), amplitudes=amps, phases=phases,
                                     **kwargs)  # fmt: skip
        err = cad.lookups[cad.bands[c]].draw(clean, rng)
        parts["time"].append(t)
        parts["mag"].append(clean + rng.normal(0.0, err))
        parts["mag_err"].append(err)
        noise_free.append(clean)
        meta.append({"source_id": f"BLZ-{seed}-{i:06d}", "band": cad.bands[c],
                     "label": "BL" if is_bl[i] else "nBL", "type": "RRab", "period": float(row.P),
                     "survey": survey, "true_amplitude": float(row.A), **truth,
                     "template_id": f"{tpl}|{cad.ids[c]}",
                     "ogle_id": str(row.ogle_id)})  # fmt: skip
    counts = np.array([a.size for a in parts["time"]])
    per_source = pd.DataFrame(meta)
    noise_free_lcs = LightCurves.from_segments(
        list(zip(parts["time"], noise_free, parts["mag_err"], strict=True))
    )
    per_source["mod_chi2"] = modulation_chi2(noise_free_lcs, per_source.period.to_numpy())
    detectable = is_bl & (per_source.mod_chi2.to_numpy() >= DETECTION_CHI2)
    per_source.insert(per_source.columns.get_loc("label") + 1, "label_detectable",
                      np.where(detectable, "BL", "nBL"))  # fmt: skip
    columns = {k: pa.array(np.repeat(per_source[k].to_numpy(), counts)) for k in per_source}
    epochs = {k: pa.array(np.concatenate(v)) for k, v in parts.items()}
    order = ["source_id", "time", "mag", "mag_err", "band"]
    return pa.table({**{k: columns[k] if k in columns else epochs[k] for k in order},
                     **{k: columns[k] for k in per_source if k not in order}})  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Write a training set (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks blazhko-training-set", description=__doc__.splitlines()[0]
    )
    parser.add_argument("output")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bl-fraction", type=float, default=0.5)
    parser.add_argument("--surveys", default=",".join(f"{k}={v}" for k, v in SURVEYS.items()),
                        help="cadence sources and their weights")  # fmt: skip
    parser.add_argument("--data", help="the real data folder (default: the shared data)")
    args = parser.parse_args(argv)
    surveys = {k: float(v) for k, v in (item.split("=") for item in args.surveys.split(","))}
    table = make_blazhko_training_set(args.n, seed=args.seed, bl_fraction=args.bl_fraction,
                                      surveys=surveys, root=args.data)  # fmt: skip
    pq.write_table(table, args.output)
    print(f"{args.output}: {args.n} RRab light curves, {table.num_rows} epochs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
