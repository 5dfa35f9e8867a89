"""Synthetic NN-FAP training curves injected into real cadences (Miller et al. 2022 Sect. 3).

Periodic curves (Sect. 3.2): keep only the time stamps of a real light curve, inject one of the
paper's shapes (types 1-5, Eqs. 1-4), give every point an error looked up among real
(mag, err) pairs of the same band by k-nearest neighbours in magnitude, and scatter each point
by its error. Periods are U(0.1 d, baseline / 2) as in the paper (``period_distribution=
"log-uniform"`` is offered for short-period-heavy sets).

Shape parameters are not given in the paper; we draw them so that each type keeps its look:
type 1 ``0.5 sin x - B1 sin 2x - B2 sin 3x`` with B1 ~ U(0, 0.3), B2 ~ U(0, 0.2) (distorted
sinusoid); types 2 and 5 ``1 +/- (A1 sin^2 x + A2 sin^2(x/2))`` with A1, A2 ~ U(0.1, 1) (two
unequal minima per cycle, EB-like; type 2 takes +, type 5 takes -); type 3 ``|sin x|``
(contact-binary-like); type 4 ``sin x``, with ``x = 2 pi (t / P + phi0)``. Each shape is scaled
to a peak-to-peak amplitude ``A = snr * sigma`` where ``snr`` is drawn log-uniform in
``snr_range`` and ``sigma`` is the typical real error at the star's magnitude.

Error look-up: the paper takes the 100 nearest neighbours in a table of real (mag, err) and
draws from a Gaussian with their mean and standard deviation. ``error_draw="neighbour"``
(default) instead returns the error of one of the k nearest real pairs chosen at random, so
every error is a real one and the skewed, non-Gaussian error distribution of the survey is
kept; ``error_draw="gaussian"`` is the paper's rule (truncated at the smallest real error).

Aperiodic curves (Sect. 3.3): (a) ``shuffled``: a synthetic periodic curve whose (mag, err)
pairs are permuted over its time stamps; (b) ``inflated``: a non-variable star (a real one with
|Stetson J| < 0.1 when the cadence table holds at least ``MIN_NONVARIABLE_POOL`` of them, else
a constant star made on a real cadence with looked-up errors) re-sampled point by point from
N(m_i, s * err_i) with s ~ U(3, 6), then re-scaled so its 1-99 % range equals an amplitude drawn
like the periodic ones (the paper's "re-scaled to ensure a realistic amplitude"); the reported
errors stay the real ones. Both kinds share the periodic curves' amplitude distribution, so the
network cannot tell the classes apart by amplitude.

Extensions, not in the paper's generator (``aperiodic_kinds`` must ask for them;
``ASTROPHYSICAL_KINDS`` names them all): real aperiodic variables on the same real cadences
and error laws, each folded at its own best GLS period like the periodic curves' fakes
would be in production. The paper's abstract names stochastic variability and slow trends as
what fools periodogram FAPs, and its real aperiodic training curves (rejected candidates,
which we do not have) carried such variability; shuffled and inflated curves are white noise
only, so without these a microlensing event or a supernova folded at its GLS peak (one clean
bump) is never shown to the network as aperiodic.

- ``stochastic``: a damped random walk (Ornstein-Uhlenbeck red noise, timescale log-uniform in
  1 d .. baseline);
- ``microlensing``: a blended Paczynski (1986) event peaking at a real epoch, t_E
  log-uniform in 5-300 d, u0 U(0.01, 1), source flux fraction U(0.1, 1) (physical amplitude);
- ``outburst``: one to three fast-rise exponential-decay bursts at real epochs (rise
  0.1-20 d, decay 1-20 times longer);
- ``dip``: one flat-bottomed fading centred on a real epoch (width 0.5 d to T / 5);
- ``trend``: a linear or quadratic drift over the whole window.

All but microlensing are scaled to the periodic curves' amplitude distribution.

Each curve carries a ``train_fold_period``: the true period for periodic curves; for aperiodic ones
the best generalised Lomb-Scargle period (``aperiodic_fold="gls"``, what the verifier sees in
production, the hardest case) or a period drawn like the periodic ones (``"random"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.stats import variability_stats
from vsbatch.period_backends import search_periods
from vsbatch.represent.nnfap import light_curves_from_table

PERIODIC_TYPES = (1, 2, 3, 4, 5)
APERIODIC_KINDS = ("shuffled", "inflated", "stochastic", "microlensing", "outburst", "dip", "trend")
PAPER_APERIODIC_KINDS = ("shuffled", "inflated")
ASTROPHYSICAL_KINDS = ("stochastic", "microlensing", "outburst", "dip", "trend")
MIN_PERIOD = 0.1  # days (the paper's lower bound)
MIN_NONVARIABLE_POOL = 20  # fewer real |Stetson J| < 0.1 stars: synthesise constant stars
STETSON_NONVARIABLE = 0.1


@dataclass(frozen=True)
class ErrorLookup:
    """Real (mag, err) pairs of one band, sorted by magnitude, for k-NN error draws."""

    mag: np.ndarray
    err: np.ndarray

    @classmethod
    def from_pairs(cls, mag: np.ndarray, err: np.ndarray) -> ErrorLookup:
        good = np.isfinite(mag) & np.isfinite(err) & (err > 0)
        order = np.argsort(mag[good], kind="stable")
        return cls(np.asarray(mag[good][order], float), np.asarray(err[good][order], float))

    def neighbours(self, mag: np.ndarray, k: int) -> np.ndarray:
        """Indices (len(mag), k) of the k nearest real magnitudes to each query."""
        n = self.mag.size
        k = min(k, n)
        pos = np.searchsorted(self.mag, mag)
        # the k nearest in 1-D lie in [pos - k, pos + k), shifted inside [0, n) at the ends
        width = min(2 * k, n)
        start = np.clip(pos - k, 0, n - width)
        cand = start[:, None] + np.arange(width)[None, :]
        dist = np.abs(self.mag[cand] - mag[:, None])
        pick = np.argsort(dist, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(cand, pick, axis=1)

    def draw(
        self, mag: np.ndarray, rng: np.random.Generator, *, k: int = 100, mode: str = "neighbour"
    ) -> np.ndarray:
        """An error for each magnitude in ``mag`` (see the module docstring)."""
        mag = np.asarray(mag, dtype=float)
        out = np.empty(mag.size)
        for lo in range(0, mag.size, 20_000):  # bounded memory: 20k x 2k candidates
            chunk = mag[lo : lo + 20_000]
            nb = self.neighbours(chunk, k)
            if mode == "neighbour":
                out[lo : lo + chunk.size] = self.err[
                    nb[np.arange(chunk.size), rng.integers(0, nb.shape[1], chunk.size)]
                ]
            elif mode == "gaussian":
                e = self.err[nb]
                draw = rng.normal(e.mean(axis=1), e.std(axis=1))
                out[lo : lo + chunk.size] = np.maximum(draw, self.err.min())
            else:
                raise ValueError("error_draw must be 'neighbour' or 'gaussian'")
        return out


def shape_unscaled(kind: int, x: np.ndarray, params: tuple[float, float]) -> np.ndarray:
    """Eqs. 1-4 of the paper at angle ``x = 2 pi t / P`` with shape parameters ``params``."""
    a, b = params
    if kind == 1:
        return 0.5 * np.sin(x) - a * np.sin(2 * x) - b * np.sin(3 * x)
    if kind in (2, 5):
        sign = 1.0 if kind == 2 else -1.0
        return 1.0 + sign * (a * np.sin(x) ** 2 + b * np.sin(x / 2) ** 2)
    if kind == 3:
        return np.abs(np.sin(x))
    if kind == 4:
        return np.sin(x)
    raise ValueError(f"unknown type {kind}; the paper's types are {PERIODIC_TYPES}")


def shape(kind: int, x: np.ndarray, params: tuple[float, float]) -> np.ndarray:
    """The shape scaled to peak-to-peak 1 (of the continuous curve) around its median."""
    ref = shape_unscaled(kind, np.linspace(0.0, 4 * np.pi, 4001), params)
    return (shape_unscaled(kind, x, params) - np.median(ref)) / (ref.max() - ref.min())


def _shape_params(kind: int, rng: np.random.Generator) -> tuple[float, float]:
    if kind == 1:
        return float(rng.uniform(0.0, 0.3)), float(rng.uniform(0.0, 0.2))
    if kind in (2, 5):
        return float(rng.uniform(0.1, 1.0)), float(rng.uniform(0.1, 1.0))
    return 0.0, 0.0


@dataclass(frozen=True)
class Cadences:
    """Real light curves (one per source and band) and the (mag, err) look-up of each band.

    What every generator injects into: the synthetic NN-FAP curves, the Blazhko training set
    and the scale-run catalogs take time stamps from ``lcs`` and errors from ``lookups``.
    """

    lcs: LightCurves
    ids: list[str]
    bands: list[str]  # "" for light curves without a band
    lookups: dict[str, ErrorLookup]

    @classmethod
    def from_table(cls, table: pa.Table) -> Cadences:
        """From a long table (source_id, time, mag, mag_err[, band]); bad rows dropped."""
        lcs, keys = light_curves_from_table(table)
        ids = [str(v) for v in keys.column("source_id").to_pylist()]
        bands = ["" if v is None else str(v) for v in keys.column("band").to_pylist()]
        seg_band = np.repeat(np.array(bands, dtype=object), lcs.counts)
        lookups = {
            band: ErrorLookup.from_pairs(lcs.mag[seg_band == band], lcs.err[seg_band == band])
            for band in sorted(set(bands))
        }
        return cls(lcs, ids, bands, lookups)

    def take(self, indices: np.ndarray) -> Cadences:
        """The light curves at ``indices``, with the look-ups of all of them."""
        return Cadences(self.lcs.take(indices), [self.ids[i] for i in indices],
                        [self.bands[i] for i in indices], self.lookups)  # fmt: skip


@dataclass(frozen=True)
class _Templates(Cadences):
    """Cadences usable as NN-FAP templates, and which of them are real non-variable stars."""

    nonvariable: np.ndarray  # template indices of real non-variable stars


def _templates(cadences: pa.Table, min_epochs: int, min_baseline: float) -> _Templates:
    every = Cadences.from_table(cadences)
    usable = (every.lcs.counts >= min_epochs) & (every.lcs.time_span() >= min_baseline)
    if not usable.any():
        raise ValueError(
            f"no cadence in the table has >= {min_epochs} epochs over >= {min_baseline} days"
        )
    sub = every.take(np.flatnonzero(usable))
    stats = variability_stats(sub.lcs)
    quiet = np.flatnonzero(np.abs(np.nan_to_num(stats.stetson_j, nan=np.inf)) < STETSON_NONVARIABLE)
    return _Templates(sub.lcs, sub.ids, sub.bands, sub.lookups, quiet)


def _window(t: np.ndarray, max_epochs: int, rng: np.random.Generator) -> slice:
    """A random contiguous run of at most ``max_epochs`` epochs (keeps the cadence)."""
    if t.size <= max_epochs:
        return slice(0, t.size)
    start = int(rng.integers(0, t.size - max_epochs + 1))
    return slice(start, start + max_epochs)


def _period(rng: np.random.Generator, baseline: float, distribution: str) -> float:
    hi = max(baseline / 2.0, MIN_PERIOD * 1.01)
    if distribution == "uniform":
        return float(rng.uniform(MIN_PERIOD, hi))
    if distribution == "log-uniform":
        return float(np.exp(rng.uniform(np.log(MIN_PERIOD), np.log(hi))))
    raise ValueError("period_distribution must be 'uniform' or 'log-uniform'")


@dataclass
class _Curve:
    time: np.ndarray
    mag: np.ndarray
    err: np.ndarray
    band: str
    template_id: str
    kind: str
    true_period: float
    amplitude: float
    snr: float


def _periodic(tpl: _Templates, i: int, kind: int, rng: np.random.Generator, cfg: dict) -> _Curve:
    t_all, m_all, _ = tpl.lcs.segment(i)
    w = _window(t_all, cfg["max_epochs"], rng)
    t = t_all[w].copy()
    band = tpl.bands[i]
    lookup = tpl.lookups[band]
    base = float(np.median(m_all[w]))
    sigma = float(np.median(lookup.err[lookup.neighbours(np.array([base]), cfg["k"])[0]]))
    snr = float(np.exp(rng.uniform(*np.log(cfg["snr_range"]))))
    amplitude = snr * sigma
    period = _period(rng, float(t[-1] - t[0]), cfg["period_distribution"])
    x = 2 * np.pi * (t / period + rng.uniform())
    truth = base + amplitude * shape(kind, x, _shape_params(kind, rng))
    err = lookup.draw(truth, rng, k=cfg["k"], mode=cfg["error_draw"])
    mag = truth + rng.normal(0.0, err)
    return _Curve(
        t,
        mag,
        err,
        band,
        tpl.ids[i],
        f"type{kind}",
        period,
        amplitude,
        amplitude / float(np.median(err)),
    )


def _inflated(tpl: _Templates, rng: np.random.Generator, cfg: dict) -> _Curve:
    if tpl.nonvariable.size >= MIN_NONVARIABLE_POOL:
        i = int(tpl.nonvariable[rng.integers(tpl.nonvariable.size)])
        t_all, m_all, e_all = tpl.lcs.segment(i)
        w = _window(t_all, cfg["max_epochs"], rng)
        t, m, err = t_all[w].copy(), m_all[w].copy(), e_all[w].copy()
        lookup = tpl.lookups[tpl.bands[i]]
    else:  # a constant star on a real cadence: median magnitude, looked-up errors
        i = int(rng.integers(tpl.lcs.n_segments))
        t_all, m_all, _ = tpl.lcs.segment(i)
        w = _window(t_all, cfg["max_epochs"], rng)
        t = t_all[w].copy()
        lookup = tpl.lookups[tpl.bands[i]]
        base = np.full(t.size, float(np.median(m_all[w])))
        err = lookup.draw(base, rng, k=cfg["k"], mode=cfg["error_draw"])
        m = base + rng.normal(0.0, err)
    inflated = rng.normal(m, rng.uniform(3.0, 6.0) * err)
    sigma = float(np.median(err))
    snr = float(np.exp(rng.uniform(*np.log(cfg["snr_range"]))))
    amplitude = snr * sigma
    centre = float(np.median(inflated))
    q1, q99 = np.percentile(inflated, [1.0, 99.0])
    scale = amplitude / (q99 - q1) if q99 > q1 else 1.0
    mag = centre + (inflated - centre) * scale
    return _Curve(
        t, mag, err, tpl.bands[i], tpl.ids[i], "inflated", np.nan, amplitude, amplitude / sigma
    )


@dataclass(frozen=True)
class _Cadence:
    """A real cadence window to inject into: its epochs, base magnitude and typical error."""

    index: int  # template light curve
    time: np.ndarray
    base: float  # median magnitude of the real window
    sigma: float  # median real error at that magnitude
    lookup: ErrorLookup


def _cadence(tpl: _Templates, rng: np.random.Generator, cfg: dict) -> _Cadence:
    i = int(rng.integers(tpl.lcs.n_segments))
    t_all, m_all, _ = tpl.lcs.segment(i)
    w = _window(t_all, cfg["max_epochs"], rng)
    lookup = tpl.lookups[tpl.bands[i]]
    base = float(np.median(m_all[w]))
    sigma = float(np.median(lookup.err[lookup.neighbours(np.array([base]), cfg["k"])[0]]))
    return _Cadence(i, t_all[w].copy(), base, sigma, lookup)


def _amplitude(cad: _Cadence, rng: np.random.Generator, cfg: dict) -> float:
    """Peak-to-peak amplitude drawn like the periodic curves': snr x the typical error."""
    return float(np.exp(rng.uniform(*np.log(cfg["snr_range"])))) * cad.sigma


def _observed(
    tpl: _Templates, cad: _Cadence, truth: np.ndarray, kind: str, rng: np.random.Generator,
    cfg: dict,
) -> _Curve:  # fmt: skip
    """The noise-free ``truth`` observed on the cadence: looked-up errors, scatter by them."""
    err = cad.lookup.draw(truth, rng, k=cfg["k"], mode=cfg["error_draw"])
    amplitude = float(np.ptp(truth))
    return _Curve(cad.time, truth + rng.normal(0.0, err), err, tpl.bands[cad.index],
                  tpl.ids[cad.index], kind, np.nan, amplitude,
                  amplitude / float(np.median(err)))  # fmt: skip


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(max(hi, lo * 1.01)))))


def _stochastic(tpl: _Templates, rng: np.random.Generator, cfg: dict) -> _Curve:
    """Red noise: a damped random walk (Ornstein-Uhlenbeck) sampled exactly at real epochs."""
    cad = _cadence(tpl, rng, cfg)
    t = cad.time
    tau = _log_uniform(rng, 1.0, float(np.ptp(t)))
    decay = np.exp(-np.diff(t) / tau)
    x = np.empty(t.size)
    x[0] = rng.normal()
    kicks = rng.normal(size=t.size - 1) * np.sqrt(1.0 - decay**2)
    for j in range(1, t.size):
        x[j] = x[j - 1] * decay[j - 1] + kicks[j - 1]
    q1, q99 = np.percentile(x, [1.0, 99.0])
    scale = _amplitude(cad, rng, cfg) / (q99 - q1) if q99 > q1 else 0.0
    return _observed(tpl, cad, cad.base + (x - np.median(x)) * scale, "stochastic", rng, cfg)


def paczynski_magnification(u: np.ndarray) -> np.ndarray:
    """Point-source point-lens magnification ``(u^2 + 2) / (u sqrt(u^2 + 4))`` (Paczynski 1986)."""
    return (u**2 + 2.0) / (u * np.sqrt(u**2 + 4.0))


def microlensing_mag(
    t: np.ndarray, base: float, t0: float, t_e: float, u0: float, blend: float
) -> np.ndarray:
    """A blended single-lens event: ``base - 2.5 log10(fs A(u) + 1 - fs)``, ``fs = blend`` the
    lensed star's share of the baseline flux, ``u = sqrt(u0^2 + ((t - t0) / t_E)^2)``."""
    u = np.sqrt(u0**2 + ((t - t0) / t_e) ** 2)
    return base - 2.5 * np.log10(blend * paczynski_magnification(u) + 1.0 - blend)


def _microlensing(tpl: _Templates, rng: np.random.Generator, cfg: dict) -> _Curve:
    """A microlensing event peaking at a real epoch: t_E log-uniform 5-300 d (OGLE bulge events
    are 5-100 d, median ~25 d), u0 U(0.01, 1), blending fs U(0.1, 1); physical amplitude."""
    cad = _cadence(tpl, rng, cfg)
    t0 = float(cad.time[rng.integers(cad.time.size)])
    t_e = _log_uniform(rng, 5.0, 300.0)
    truth = microlensing_mag(cad.time, cad.base, t0, t_e, rng.uniform(0.01, 1.0),
                             rng.uniform(0.1, 1.0))  # fmt: skip
    return _observed(tpl, cad, truth, "microlensing", rng, cfg)


def outburst_shape(t: np.ndarray, t0: float, rise: float, decay: float) -> np.ndarray:
    """Flux of a fast-rise exponential-decay burst, peak 1 at ``t0``: ``exp((t - t0) / rise)``
    before, ``exp(-(t - t0) / decay)`` after."""
    dt = t - t0
    return np.where(
        dt < 0.0, np.exp(np.minimum(dt, 0.0) / rise), np.exp(-np.maximum(dt, 0) / decay)
    )


def _outburst(tpl: _Templates, rng: np.random.Generator, cfg: dict) -> _Curve:
    """One to three bursts (supernova, nova, dwarf nova, flare) at random real epochs: rise
    log-uniform 0.1-20 d, decay 1-20 times longer; brightening by the periodic amplitudes."""
    cad = _cadence(tpl, rng, cfg)
    flux = np.zeros(cad.time.size)
    for _ in range(int(rng.integers(1, 4))):
        rise = _log_uniform(rng, 0.1, 20.0)
        t0 = float(cad.time[rng.integers(cad.time.size)])
        flux += rng.uniform(0.3, 1.0) * outburst_shape(
            cad.time, t0, rise, rise * _log_uniform(rng, 1.0, 20.0)
        )
    truth = cad.base - _amplitude(cad, rng, cfg) * flux / max(float(flux.max()), 1e-12)
    return _observed(tpl, cad, truth, "outburst", rng, cfg)


def _dip(tpl: _Templates, rng: np.random.Generator, cfg: dict) -> _Curve:
    """One fading (eclipse by a disk, R CrB-like decline, occultation) centred on a real epoch:
    a flat-bottomed dip ``exp(-(|t - tc| / w)^k)``, k U(2, 6), width log-uniform 0.5 d to
    a fifth of the baseline."""
    cad = _cadence(tpl, rng, cfg)
    tc = float(cad.time[rng.integers(cad.time.size)])
    width = _log_uniform(rng, 0.5, float(np.ptp(cad.time)) / 5.0)
    depth = np.exp(-((np.abs(cad.time - tc) / width) ** rng.uniform(2.0, 6.0)))
    return _observed(tpl, cad, cad.base + _amplitude(cad, rng, cfg) * depth, "dip", rng, cfg)


def _trend(tpl: _Templates, rng: np.random.Generator, cfg: dict) -> _Curve:
    """A slow linear or quadratic drift over the window (``a x + b x^2``, x in [-1, 1]; b = 0
    for half of them), scaled to the periodic amplitudes."""
    cad = _cadence(tpl, rng, cfg)
    mid, half = float(cad.time.mean()), max(float(np.ptp(cad.time)) / 2.0, 1e-9)
    x = (cad.time - mid) / half
    a, b = rng.normal(), rng.normal() * (rng.uniform() < 0.5)
    drift = a * x + b * x**2
    span = float(np.ptp(drift))
    truth = cad.base + _amplitude(cad, rng, cfg) * (drift / span if span > 0 else drift)
    return _observed(tpl, cad, truth, "trend", rng, cfg)


def make_nnfap_training_set(
    cadences: pa.Table,
    n_curves: int,
    seed: int = 0,
    *,
    periodic_fraction: float = 0.5,
    snr_range: tuple[float, float] = (1.0, 30.0),
    period_distribution: str = "uniform",
    error_draw: str = "neighbour",
    k_neighbours: int = 100,
    min_epochs: int = 20,
    max_epochs: int = 1000,
    aperiodic_fold: str = "gls",
    aperiodic_kinds: tuple[str, ...] = PAPER_APERIODIC_KINDS,
    id_prefix: str = "nnfap",
) -> pa.Table:
    """Seeded synthetic periodic and aperiodic light curves on the cadences of ``cadences``.

    Why: NN-FAP is trained on shapes injected into real time stamps with real error
    distributions (Miller et al. 2022 Sect. 3). ``cadences`` is an ordinary long table
    (source_id, time, mag, mag_err[, band]); each (source, band) with at least ``min_epochs``
    epochs over more than 0.2 d is a template (runs longer than ``max_epochs`` are cut to a
    random contiguous window).
    Periodic curves are split evenly over types 1-5, aperiodic ones over ``aperiodic_kinds``
    (the paper's shuffled and inflated by default; see ``ASTROPHYSICAL_KINDS`` for the rest).

    Returns a long vsbatch input table: source_id, time, mag, mag_err, band and, constant per
    source, label ("periodic"/"aperiodic"), is_periodic (1/0), kind (type1..type5 or an aperiodic
    kind), true_period (NaN if aperiodic), train_fold_period, true_amplitude
    (injected peak-to-peak, mag), snr (amplitude / median error), template_id. The same
    arguments give the same table.
    """
    _check_arguments(n_curves, aperiodic_fold, aperiodic_kinds)
    rng = np.random.default_rng(seed)
    tpl = _templates(cadences, min_epochs, 2 * MIN_PERIOD)
    cfg = {
        "max_epochs": max_epochs,
        "k": k_neighbours,
        "snr_range": (float(snr_range[0]), float(snr_range[1])),
        "period_distribution": period_distribution,
        "error_draw": error_draw,
    }
    kinds = _curve_kinds(n_curves, periodic_fraction, aperiodic_kinds, rng)
    curves = [_draw_curve(tpl, kind, rng, cfg) for kind in kinds]
    fold = _fold_periods(curves, rng, aperiodic_fold, period_distribution)
    return _to_table(curves, fold, id_prefix, seed)


def _check_arguments(n_curves: int, aperiodic_fold: str, aperiodic_kinds: tuple[str, ...]) -> None:
    if n_curves < 1:
        raise ValueError("n_curves must be >= 1")
    if aperiodic_fold not in ("gls", "random"):
        raise ValueError("aperiodic_fold must be 'gls' or 'random'")
    unknown = set(aperiodic_kinds) - set(APERIODIC_KINDS)
    if unknown or not aperiodic_kinds:
        raise ValueError(f"aperiodic_kinds must be taken from {APERIODIC_KINDS}")


def _curve_kinds(
    n_curves: int,
    periodic_fraction: float,
    aperiodic_kinds: tuple[str, ...],
    rng: np.random.Generator,
) -> list[str | int]:
    """The kind of every curve in a seeded order: periodic types 1-5 and the aperiodic kinds,
    each set split evenly."""
    n_periodic = round(float(n_curves * periodic_fraction))
    kinds: list[str | int] = [PERIODIC_TYPES[j % 5] for j in range(n_periodic)]
    kinds += [aperiodic_kinds[j % len(aperiodic_kinds)] for j in range(n_curves - n_periodic)]
    return [kinds[j] for j in rng.permutation(n_curves)]


def _shuffled(tpl: _Templates, rng: np.random.Generator, cfg: dict) -> _Curve:
    """A synthetic periodic curve of a random type with its (mag, err) pairs permuted over its
    time stamps (Miller et al. 2022 Sect. 3.3 a)."""
    ptype = PERIODIC_TYPES[int(rng.integers(5))]
    c = _periodic(tpl, int(rng.integers(tpl.lcs.n_segments)), ptype, rng, cfg)
    perm = rng.permutation(c.time.size)
    return _Curve(c.time, c.mag[perm], c.err[perm], c.band, c.template_id, "shuffled", np.nan,
                  c.amplitude, c.snr)  # fmt: skip


def _draw_curve(tpl: _Templates, kind: str | int, rng: np.random.Generator, cfg: dict) -> _Curve:
    """One synthetic curve of ``kind``: a periodic type (int) or an aperiodic kind (str)."""
    if isinstance(kind, int):
        return _periodic(tpl, int(rng.integers(tpl.lcs.n_segments)), kind, rng, cfg)
    return _APERIODIC[kind](tpl, rng, cfg)


_APERIODIC = {"shuffled": _shuffled, "inflated": _inflated, "stochastic": _stochastic,
              "microlensing": _microlensing, "outburst": _outburst, "dip": _dip,
              "trend": _trend}  # fmt: skip


def _fold_periods(
    curves: list[_Curve], rng: np.random.Generator, aperiodic_fold: str, distribution: str
) -> np.ndarray:
    """The ``train_fold_period`` of every curve: the true period of periodic curves; for
    aperiodic ones a drawn period (``"random"``) or their best GLS period (``"gls"``)."""
    fold = np.array([c.true_period for c in curves])
    aperiodic = np.flatnonzero(~np.isfinite(fold))
    if aperiodic.size and aperiodic_fold == "random":
        for j in aperiodic:
            fold[j] = _period(rng, float(np.ptp(curves[j].time)), distribution)
    elif aperiodic.size:
        sub = LightCurves.from_segments(
            [(curves[j].time, curves[j].mag, curves[j].err) for j in aperiodic]
        )
        fold[aperiodic] = search_periods(sub).period
    return fold


def _to_table(curves: list[_Curve], fold: np.ndarray, prefix: str, seed: int) -> pa.Table:
    counts = np.array([c.time.size for c in curves])
    ids = [f"{prefix}-{seed}-{j:06d}" for j in range(len(curves))]

    def rep(values: list, arrow_type: pa.DataType) -> pa.Array:
        return pa.array(np.repeat(np.array(values, dtype=object), counts), arrow_type)

    labels = ["periodic" if np.isfinite(c.true_period) else "aperiodic" for c in curves]
    return pa.table(
        {
            "source_id": rep(ids, pa.string()),
            "time": np.concatenate([c.time for c in curves]),
            "mag": np.concatenate([c.mag for c in curves]),
            "mag_err": np.concatenate([c.err for c in curves]),
            "band": rep([c.band for c in curves], pa.string()),
            "label": rep(labels, pa.string()),
            "is_periodic": pa.array(
                np.repeat([lab == "periodic" for lab in labels], counts).astype(np.int8)
            ),
            "kind": rep([c.kind for c in curves], pa.string()),
            "true_period": np.repeat([c.true_period for c in curves], counts),
            "train_fold_period": np.repeat(fold, counts),
            "true_amplitude": np.repeat([c.amplitude for c in curves], counts),
            "snr": np.repeat([c.snr for c in curves], counts),
            "template_id": rep([c.template_id for c in curves], pa.string()),
        }
    )
