"""vsbatch: survey light curves to queryable catalogs of periods, features and classes.

The Python API under every command::

    import vsbatch
    summary = vsbatch.run("lightcurves.parquet", "catalog")      # vsbatch run
    cat = vsbatch.open_catalog("catalog")                         # committed rows only
    vsbatch.query("catalog", "SELECT count(*) FROM catalog")      # vsbatch query
    vsbatch.ingest_text(["lcs/"], "lcs.parquet")                  # vsbatch ingest
    vsbatch.kernels.stats.variability_stats(LightCurves(...))     # kernels on arrays

This module is the top of the package: nothing inside vsbatch imports it (the version lives in
``vsbatch._version``).
"""

import vsbatch._numba_cache  # noqa: F401  (first: the kernel cache folder, before any compile)
from vsbatch._version import __version__
from vsbatch.config import RunConfig
from vsbatch.io.catalog import open_catalog
from vsbatch.io.text import ingest_text
from vsbatch.kernels import LightCurves
from vsbatch.pipeline import run
from vsbatch.query import query

__all__ = ["LightCurves", "RunConfig", "__version__", "ingest_text", "open_catalog", "query", "run"]
