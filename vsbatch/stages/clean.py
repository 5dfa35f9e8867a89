"""The row policy: from a partition's raw epochs to clean light curves (flat arrays + offsets).

Per (source_id, band): epochs sorted by time; exact duplicate epochs (same time, mag, mag_err)
removed; NaN/inf times or magnitudes and non-finite or non-positive errors dropped. Each drop
is counted in the catalog. A light curve left with fewer than ``min_epochs`` epochs goes to
the failures table with the reason, never silently away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vsbatch.failures import FailureLog
from vsbatch.kernels.arrays import LightCurves


@dataclass(frozen=True)
class CleanPartition:
    """Clean light curves of one partition: ``segments`` has one row per light curve."""

    segments: pa.Table  # source_id, band, counters, carried per-source columns
    lcs: LightCurves


def _codes(column: pa.ChunkedArray) -> np.ndarray:
    """Integer codes equal where values are equal (nulls get -1)."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    return pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def clean_partition(
    table: pa.Table,
    partition: str,
    min_epochs: int,
    carried: tuple[str, ...],
    failures: FailureLog,
) -> CleanPartition:
    """Apply the row policy to a long-format table of whole light curves."""
    has_band = "band" in table.column_names
    if not has_band:
        table = table.append_column("band", pa.nulls(table.num_rows, pa.string()))
    keys = ("source_id", "band", "time", "mag", "mag_err")
    order = pc.sort_indices(table, sort_keys=[(k, "ascending", "at_end") for k in keys])
    table = table.take(order)
    n = table.num_rows
    src = _codes(table.column("source_id"))
    band = _codes(table.column("band"))
    time = table.column("time").to_numpy()
    mag = table.column("mag").to_numpy()
    err = table.column("mag_err").to_numpy()

    new_segment = np.r_[n > 0, (src[1:] != src[:-1]) | (band[1:] != band[:-1])][:n]
    starts = np.flatnonzero(new_segment)
    seg_of_row = np.cumsum(new_segment) - 1
    n_seg = len(starts)
    finite = np.isfinite(time) & np.isfinite(mag)
    good_err = np.isfinite(err) & (err > 0)
    valid = finite & good_err
    idx = np.flatnonzero(valid)
    dup = np.zeros(n, dtype=bool)
    if len(idx) > 1:
        same = (
            (seg_of_row[idx[1:]] == seg_of_row[idx[:-1]])
            & (time[idx[1:]] == time[idx[:-1]])
            & (mag[idx[1:]] == mag[idx[:-1]])
            & (err[idx[1:]] == err[idx[:-1]])
        )
        dup[idx[1:][same]] = True
    keep = valid & ~dup

    def per_segment(mask: np.ndarray) -> np.ndarray:
        return np.bincount(seg_of_row[mask], minlength=n_seg).astype(np.int32)

    n_input = per_segment(np.ones(n, dtype=bool))
    n_nonfinite = per_segment(~finite)
    n_bad_err = per_segment(finite & ~good_err)
    n_dup = per_segment(dup)
    n_kept = per_segment(keep)

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

    rows = keep & ok[seg_of_row]
    offsets = np.zeros(int(ok.sum()) + 1, dtype=np.int64)
    np.cumsum(n_kept[ok], out=offsets[1:])
    lcs = LightCurves(
        offsets,
        np.ascontiguousarray(time[rows]),
        np.ascontiguousarray(mag[rows]),
        np.ascontiguousarray(err[rows]),
    )
    return CleanPartition(pa.table(columns), lcs)
