"""Baluev (2008) false-alarm probability of the highest Lomb–Scargle peak, in log space.

For the standard-normalised power ``Z`` of a sinusoid added to a linear base model with
``d_H`` parameters (``d_K = d_H + 2``), ``N`` epochs and a search up to ``f_max``, Baluev's
"alias-free" approximation (his eq. 6 with Table 1) is

    FAP = 1 - (1 - FAP_single) * exp(-tau),
    FAP_single = (1 - Z) ** ((N - d_K) / 2),
    tau = gamma(N_H) * W * (1 - Z) ** ((N_K - 1) / 2) * sqrt(N_H Z / 2),
    gamma(n) = sqrt(2 / n) * Gamma(n / 2) / Gamma((n - 1) / 2),
    W = f_max * sqrt(4 pi D_t),  N_H = N - d_H,  N_K = N - d_K,

with ``D_t`` the weighted variance of the epochs. This is the expression astropy uses for
``false_alarm_probability(method='baluev')`` (``d_H = 1``). Strong peaks of long light curves
have FAPs far below the smallest double, so everything is evaluated as logarithms and
``log10_fap`` stays finite where ``fap`` underflows to 0.

For multiband sources (one floating mean per band, one shared sinusoid) ``d_H`` is the number
of bands and ``D_t`` the pooled within-band variance of the epochs (the part of the time
spread not absorbed by the band offsets); that extension is our approximation, not astropy's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.periodogram import source_groups


@dataclass(frozen=True)
class FalseAlarmProbability:
    """Per light curve: the probability and its log10 (finite even when ``fap`` underflows)."""

    fap: np.ndarray
    log10_fap: np.ndarray


@numba.njit(cache=True)
def _log_baluev(z, n, fmax, time_variance, n_base):
    """Natural log of the Baluev FAP for one peak."""
    if not z > 0.0:  # also NaN: no evidence of a signal
        return 0.0 if z <= 0.0 else np.nan
    if z >= 1.0:
        return -np.inf
    nh = n - n_base
    nk = nh - 2.0
    log1m_z = math.log1p(-z)
    log_single = 0.5 * nk * log1m_z
    log_gamma = 0.5 * math.log(2.0 / nh) + math.lgamma(0.5 * nh) - math.lgamma(0.5 * (nh - 1.0))
    log_w = math.log(fmax * math.sqrt(4.0 * math.pi * time_variance))
    log_tau = log_gamma + log_w + 0.5 * (nk - 1.0) * log1m_z + 0.5 * math.log(0.5 * nh * z)
    tau = math.exp(log_tau)
    # log(1 - exp(-tau)); for tiny tau, 1 - exp(-tau) = tau (1 - tau / 2 + ...)
    log_one_minus = log_tau - 0.5 * tau if log_tau < -20.0 else math.log(-math.expm1(-tau))
    a = log_single - tau  # log(FAP_single * exp(-tau))
    hi, lo = max(a, log_one_minus), min(a, log_one_minus)
    return min(hi + math.log1p(math.exp(lo - hi)), 0.0)


@numba.njit(cache=True)
def _baluev_kernel(power, n_obs, fmax, time_variance, n_base, log_fap):
    for i in range(power.size):
        if n_obs[i] - n_base[i] < 3 or not time_variance[i] > 0.0:
            log_fap[i] = np.nan
        else:
            log_fap[i] = _log_baluev(power[i], n_obs[i], fmax[i], time_variance[i], n_base[i])


def baluev_fap(
    power: np.ndarray,
    n_obs: np.ndarray,
    maximum_frequency: np.ndarray,
    time_variance: np.ndarray,
    n_base_params: np.ndarray | int = 1,
) -> FalseAlarmProbability:
    """Baluev FAP of peaks with standard-normalised ``power`` (one per light curve).

    ``maximum_frequency`` is the last frequency searched (``FrequencyGrid.maximum_frequency``,
    equal to astropy's ``autofrequency(..., return_freq_limits=True)[1]``), ``time_variance``
    from :func:`time_variance`, ``n_base_params`` the parameters of the null model (1, or the
    number of bands for multiband sources). NaN where there are too few epochs.
    """
    shape = np.shape(power)
    args = [
        np.array(np.broadcast_to(x, shape), dtype=np.float64).ravel()  # writable contiguous copy
        for x in (power, n_obs, maximum_frequency, time_variance, n_base_params)
    ]
    log_fap = np.empty(args[0].size)
    _baluev_kernel(*args, log_fap)
    log_fap = log_fap.reshape(shape)
    return FalseAlarmProbability(np.exp(log_fap), log_fap / math.log(10.0))


@numba.njit(cache=True)
def _time_variance_kernel(time, err, offsets, groups, out):
    for g in range(groups.size - 1):
        total_w, total_ss = 0.0, 0.0
        for b in range(groups[g], groups[g + 1]):
            lo, hi = offsets[b], offsets[b + 1]
            if hi == lo:
                continue
            sw, swt = 0.0, 0.0
            t0 = time[lo]  # shift for accuracy on absolute dates
            for i in range(lo, hi):
                w = 1.0 / (err[i] * err[i])
                sw += w
                swt += w * (time[i] - t0)
            mean = swt / sw
            for i in range(lo, hi):
                d = time[i] - t0 - mean
                total_ss += d * d / (err[i] * err[i])
            total_w += sw
        out[g] = total_ss / total_w if total_w > 0.0 else np.nan


def time_variance(lcs: LightCurves, source_index: np.ndarray | None = None) -> np.ndarray:
    """Weighted (1/err^2) variance of the epochs per segment, or pooled within bands per source.

    Baluev's effective baseline ``sqrt(4 pi D_t)`` uses it instead of the plain time span.
    """
    groups = source_groups(lcs.n_segments, source_index)
    out = np.empty(len(groups) - 1)
    _time_variance_kernel(lcs.time, lcs.err, lcs.offsets, groups, out)
    return out
