"""Catalog-parameters tables: one row per source with period, amplitude and Fourier
parameters, no epochs (classification from published parameters instead of light curves).

Why a reader of its own: such tables come as survey query text (the OGLE-III catalog) as
often as Parquet, and a run or a training set must recognise them before looking for epochs.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vsbatch.errors import UsageError

OGLE3_MISSING = -99.99
OGLE3_COLUMNS = {
    "ID": "source_id",
    "P_1": "period",
    "A_1": "amplitude",
    "R21_1": "r21",
    "phi21_1": "phi21",
    "R31_1": "r31",
    "phi31_1": "phi31",
    "I": "mean_mag",
}


def ogle3_label(kind: str, subtype: str | None) -> str:
    """The class of an OGLE-III catalog row: the subtype for RR Lyrae and long-period
    variables (RRab, RRc, RRd, RRe; Mira, SRV, OSARG), else the type (Cep, T2Cep, DSCT, aCep,
    DPV, RCB)."""
    return str(subtype) if kind in ("RRLyr", "LPV") and subtype else str(kind)


def _ogle3_header(path: Path) -> list[str] | None:
    """Column names of an OGLE-III catalog query (``# Columns:`` then a ``#`` header line)."""
    import bz2

    opener = bz2.open if path.suffix == ".bz2" else open
    try:
        with opener(path, "rt") as fh:
            lines = [next(fh) for _ in range(8)]
    except (OSError, StopIteration, UnicodeDecodeError, EOFError):
        return None
    for i, line in enumerate(lines[:-1]):
        if line.startswith("# Columns:"):
            return lines[i + 1].lstrip("#").split()
    return None


def read_catalog_parameters(source: str | Path) -> pa.Table:
    """A catalog-parameters table: ``source_id``, ``period`` (d), ``amplitude`` (peak-to-peak
    mag), ``r21``, ``phi21``, ``r31``, ``phi31`` (rad, cosine convention), ``mean_mag`` and any
    ``label``. Reads Parquet (file or folder) with those columns (optional ones may be absent)
    or an OGLE-III catalog query as text (``.txt`` / ``.txt.bz2``, -99.99 = missing), whose
    label is :func:`ogle3_label`."""
    path = Path(source)
    header = _ogle3_header(path) if path.is_file() and ".txt" in path.suffixes else None
    if header is not None:
        import pandas as pd

        df = pd.read_csv(
            path,
            sep="\t",
            comment="#",
            names=header,
            usecols=[*OGLE3_COLUMNS, "Type", "Subtype"],
            na_values=[str(OGLE3_MISSING)],
            dtype={"Subtype": str},
        )
        df["label"] = [
            ogle3_label(t, s if isinstance(s, str) else None)
            for t, s in zip(df["Type"], df["Subtype"], strict=True)
        ]
        df = df.rename(columns=OGLE3_COLUMNS).drop(columns=["Type", "Subtype"])
        return pa.Table.from_pandas(df, preserve_index=False)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise UsageError(f"{source}: not a catalogue-parameters table ({exc})") from exc
    missing = [c for c in ("source_id", "period", "amplitude") if c not in table.column_names]
    if missing:
        raise UsageError(f"{source}: a catalogue-parameters input needs {', '.join(missing)}")
    return table


def is_catalog_parameters(source: str) -> bool:
    """True for a catalog-parameters input (period and amplitude, no epochs): an OGLE-III
    query text file, or Parquet with ``period`` and ``amplitude`` but no ``time`` / ``lc``."""
    path = Path(source)
    if not path.exists():
        return False
    if path.is_file() and ".txt" in path.suffixes:
        return _ogle3_header(path) is not None
    try:
        names = set(
            pq.read_schema(path).names if path.is_file() else pq.ParquetDataset(path).schema.names
        )
    except (OSError, pa.ArrowInvalid, ValueError):
        return False
    return {"period", "amplitude"} <= names and not names & {"time", "lc"}
