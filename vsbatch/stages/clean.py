"""The row policy: from a partition's raw epochs to clean light curves (flat arrays + offsets).

Per (source_id, band): epochs sorted by time; exact duplicate epochs (same time, mag, mag_err)
removed; NaN/inf times or magnitudes, magnitudes beyond +-``MAG_LIMIT`` and errors outside
``ERR_LIMITS`` dropped (a mag_err of 1e300 or 1e-300 makes weights 0 or inf, a mag of 1e300
an infinite variance: no statistic of such rows means anything). Each drop is counted in the
catalog. A light curve left with fewer than ``min_epochs`` epochs goes to
the failures table with the reason, never silently away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vsbatch.failures import FailureLog
from vsbatch.kernels.arrays import LightCurves

MAG_LIMIT = 1e6  # |mag| beyond this is not a measurement
ERR_LIMITS = (1e-9, 1e6)  # mag_err outside this is not one either


@dataclass(frozen=True)
class CleanPartition:
    """Clean light curves of one partition: ``segments`` has one row per light curve."""

    segments: pa.Table  # source_id, band, counters, carried per-source columns
    lcs: LightCurves


def _codes(column: pa.ChunkedArray) -> np.ndarray:
    """Integer codes equal where values are equal (nulls get -1)."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    return pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _sorted_by_light_curve(table: pa.Table) -> pa.Table:
    """Rows ordered by source, band, then time (a missing band column becomes nulls)."""
    if "band" not in table.column_names:
        table = table.append_column("band", pa.nulls(table.num_rows, pa.string()))
    keys = ("source_id", "band", "time", "mag", "mag_err")
    return table.take(pc.sort_indices(table, sort_keys=[(k, "ascending", "at_end") for k in keys]))


@dataclass(frozen=True)
class _RowVerdicts:
    """The row policy on a sorted table: each row's light curve and why it is dropped."""

    starts: np.ndarray  # first row of each light curve
    seg_of_row: np.ndarray  # light curve of each row
    finite: np.ndarray  # time finite, mag finite and within MAG_LIMIT
    good_err: np.ndarray  # mag_err within ERR_LIMITS
    duplicate: np.ndarray  # same time, mag and mag_err as the previous valid row

    @property
    def keep(self) -> np.ndarray:
        return self.finite & self.good_err & ~self.duplicate

    def per_segment(self, mask: np.ndarray) -> np.ndarray:
        """How many rows of each light curve ``mask`` selects."""
        return np.bincount(self.seg_of_row[mask], minlength=len(self.starts)).astype(np.int32)


def _row_verdicts(
    table: pa.Table, time: np.ndarray, mag: np.ndarray, err: np.ndarray
) -> _RowVerdicts:
    """Which light curve each row of a sorted table belongs to, and why a row is dropped."""
    n = table.num_rows
    src = _codes(table.column("source_id"))
    band = _codes(table.column("band"))
    new_segment = np.r_[n > 0, (src[1:] != src[:-1]) | (band[1:] != band[:-1])][:n]
    seg_of_row = np.cumsum(new_segment) - 1
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(time) & (np.abs(mag) <= MAG_LIMIT)
        good_err = (err >= ERR_LIMITS[0]) & (err <= ERR_LIMITS[1])
    idx = np.flatnonzero(finite & good_err)
    dup = np.zeros(n, dtype=bool)
    if len(idx) > 1:
        same = (
            (seg_of_row[idx[1:]] == seg_of_row[idx[:-1]])
            & (time[idx[1:]] == time[idx[:-1]])
            & (mag[idx[1:]] == mag[idx[:-1]])
            & (err[idx[1:]] == err[idx[:-1]])
        )
        dup[idx[1:][same]] = True
    return _RowVerdicts(np.flatnonzero(new_segment), seg_of_row, finite, good_err, dup)


def clean_partition(
    table: pa.Table,
    partition: str,
    min_epochs: int,
    carried: tuple[str, ...],
    failures: FailureLog,
) -> CleanPartition:
    """Apply the row policy to a long-format table of whole light curves."""
    table = _sorted_by_light_curve(table)
    time, mag, err = (table.column(c).to_numpy() for c in ("time", "mag", "mag_err"))
    rows = _row_verdicts(table, time, mag, err)
    starts, keep = rows.starts, rows.keep
    n_input = rows.per_segment(np.ones(table.num_rows, dtype=bool))
    n_nonfinite = rows.per_segment(~rows.finite)
    n_bad_err = rows.per_segment(rows.finite & ~rows.good_err)
    n_dup = rows.per_segment(rows.duplicate)
    n_kept = rows.per_segment(keep)

    ok = n_kept >= min_epochs
    first_rows = pa.array(starts[ok], pa.int64())
    ids = table.column("source_id")
    bands = table.column("band")
    for s in np.flatnonzero(~ok):
        reason = (
            f"{n_kept[s]} valid epochs after cleaning, minimum {min_epochs} "
            f"(input {n_input[s]}; dropped {n_nonfinite[s]} non-finite time/mag, "
            f"{n_bad_err[s]} bad mag_err, {n_dup[s]} duplicates)"
        )
        failures.add(ids[int(starts[s])].as_py(), bands[int(starts[s])].as_py(), "clean", reason)

    columns = {
        "source_id": ids.take(first_rows),
        "band": bands.take(first_rows),
        "n_input": pa.array(n_input[ok]),
        "n_dropped_nonfinite": pa.array(n_nonfinite[ok]),
        "n_dropped_bad_err": pa.array(n_bad_err[ok]),
        "n_dropped_duplicate": pa.array(n_dup[ok]),
    }
    for col in carried:
        columns[col] = table.column(col).take(first_rows)

    kept_rows = keep & ok[rows.seg_of_row]
    offsets = np.zeros(int(ok.sum()) + 1, dtype=np.int64)
    np.cumsum(n_kept[ok], out=offsets[1:])
    lcs = LightCurves(
        offsets,
        np.ascontiguousarray(time[kept_rows]),
        np.ascontiguousarray(mag[kept_rows]),
        np.ascontiguousarray(err[kept_rows]),
    )
    return CleanPartition(pa.table(columns), lcs)
