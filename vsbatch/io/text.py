"""``vsbatch ingest``: text light curves (OGLE ``.dat``/``.o3``, ASAS ``.lc``, CSV) to Parquet.

Whitespace files hold ``time mag err`` in their first three columns (further columns, such as
ASAS's, are ignored); CSV files need a header naming the time, magnitude and error columns
(common aliases are recognised). The source id is the file name without its suffix, so
``02950.o3`` and ``02950.o4`` (OGLE-III and -IV) become one source. The output is a nested
Parquet file (one row per source, ``lc`` struct of lists) that ``vsbatch run`` reads.
"""

from __future__ import annotations

import csv
import glob
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from vsbatch.errors import InputError
from vsbatch.failures import FailureLog
from vsbatch.io.catalog import write_parquet_atomic
from vsbatch.schema import nested_column_name

_ALIASES = {
    "time": ("time", "hjd", "mjd", "jd", "bjd", "date", "t"),
    "mag": ("mag", "magnitude", "m"),
    "mag_err": ("mag_err", "magerr", "err", "error", "e_mag", "sigma", "mag_error"),
    "band": ("band", "filter", "passband"),
}
TEXT_SUFFIXES = (".dat", ".lc", ".txt", ".csv", ".o3", ".o4", ".tsv")


@dataclass(frozen=True)
class IngestSummary:
    output: Path
    sources: int
    epochs: int
    failed_files: list[tuple[str, str]]


def _files(inputs: list[str]) -> list[Path]:
    out: list[Path] = []
    for item in inputs:
        if any(ch in item for ch in "*?["):
            out.extend(Path(p) for p in sorted(glob.glob(item)) if os.path.isfile(p))
        elif os.path.isdir(item):
            # by name, not is_file(): a dangling link must fail loudly when read, not vanish
            out.extend(
                p
                for p in sorted(Path(item).iterdir())
                if p.suffix.lower() in TEXT_SUFFIXES and not p.is_dir()
            )
        elif os.path.isfile(item):
            out.append(Path(item))
        else:
            raise InputError(f"{item}: no such file or folder")
    if not out:
        raise InputError(f"{', '.join(inputs)}: no text light curves found ({TEXT_SUFFIXES})")
    return out


def source_id_of(path: Path) -> str:
    """File name without its light-curve suffix: ``02950.o3`` -> ``02950``, ASAS dots kept."""
    name = path.name
    suffix = path.suffix.lower()
    return name[: -len(suffix)] if suffix in TEXT_SUFFIXES else name


def read_text_light_curve(path: Path) -> dict[str, np.ndarray]:
    """time, mag, mag_err (and band when a CSV names one) of one text file."""
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark is not data
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise InputError(f"{path}: no data lines")
    if "," in lines[0]:
        return _read_csv(path, lines)
    rows = []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        try:
            rows.append([float(v) for v in fields[:3]])
        except ValueError as exc:
            raise InputError(f"{path}: data line {number} is not numeric: {line[:60]!r}") from exc
        if len(fields) < 3:
            raise InputError(f"{path}: data line {number} has {len(fields)} columns, need 3")
    arr = np.array(rows, dtype=np.float64)
    return {"time": arr[:, 0], "mag": arr[:, 1], "mag_err": arr[:, 2]}


def _read_csv(path: Path, lines: list[str]) -> dict[str, np.ndarray]:
    reader = csv.reader(io.StringIO("\n".join(lines)))
    header = [h.strip().lower() for h in next(reader)]
    where = {}
    for canon, names in _ALIASES.items():
        found = [header.index(n) for n in names if n in header]
        if found:
            where[canon] = found[0]
        elif canon != "band":
            raise InputError(
                f"{path}: no {canon} column in the CSV header (looked for {', '.join(names)})"
            )
    values: dict[str, list] = {k: [] for k in where}
    for number, row in enumerate(reader, start=2):
        for canon, idx in where.items():
            try:
                cell = row[idx].strip()
                values[canon].append(cell if canon == "band" else float(cell))
            except (IndexError, ValueError) as exc:
                raise InputError(f"{path}: line {number}, column {header[idx]!r}: {exc}") from exc
    return {k: np.asarray(v) if k == "band" else np.asarray(v, float) for k, v in values.items()}


def ingest_text(
    inputs: list[str], output: str | Path, band: str | None = None, keep_going: bool = False
) -> IngestSummary:
    """Read text light curves into one nested Parquet file (sorted by source id)."""
    by_source: dict[str, list[dict[str, np.ndarray]]] = {}
    failed: list[tuple[str, str]] = []
    for path in _files(inputs):
        try:
            lc = read_text_light_curve(path)
        except InputError as exc:
            if not keep_going:
                raise
            failed.append((str(path), str(exc)))
            continue
        if "band" not in lc:
            lc["band"] = np.full(len(lc["time"]), band, dtype=object)
        by_source.setdefault(source_id_of(path), []).append(lc)
    if not by_source:
        raise InputError(f"{', '.join(inputs)}: no readable text light curves")
    ids, lcs = [], []
    for sid in sorted(by_source):
        parts = by_source[sid]
        ids.append(sid)
        lcs.append({k: np.concatenate([p[k] for p in parts]).tolist() for k in parts[0]})
    lc_type = pa.struct(
        [
            ("time", pa.list_(pa.float64())),
            ("mag", pa.list_(pa.float64())),
            ("mag_err", pa.list_(pa.float64())),
            ("band", pa.list_(pa.string())),
        ]
    )
    table = pa.table(
        {"source_id": pa.array(ids, pa.string()), nested_column_name(): pa.array(lcs, lc_type)}
    )
    output = Path(output)
    write_parquet_atomic(table, output)
    if failed:  # beside the output, "_"-prefixed so a folder reader skips it
        log = FailureLog()
        for file, reason in failed:
            log.add_file(file, "ingest", reason)
        write_parquet_atomic(log.to_table(), output.parent / f"_{output.stem}_failures.parquet")
    epochs = sum(len(lc["time"]) for lc in lcs)
    return IngestSummary(output, len(ids), epochs, failed)
