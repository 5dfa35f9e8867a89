"""vsbatch: survey light curves to queryable catalogs of periods, features and classes.

The Python API under every command::

    import vsbatch
    summary = vsbatch.run("lightcurves.parquet", "catalog")      # vsbatch run
    cat = vsbatch.open_catalog("catalog")                         # committed rows only
    vsbatch.query("catalog", "SELECT count(*) FROM catalog")      # vsbatch query
    vsbatch.ingest_text(["lcs/"], "lcs.parquet")                  # vsbatch ingest
    vsbatch.kernels.stats.variability_stats(LightCurves(...))     # kernels on arrays
"""

__version__ = "0.1.0"

from vsbatch.config import RunConfig  # noqa: E402
from vsbatch.io.catalog import open_catalog  # noqa: E402
from vsbatch.io.text import ingest_text  # noqa: E402
from vsbatch.kernels import LightCurves  # noqa: E402
from vsbatch.pipeline import run  # noqa: E402
from vsbatch.query import query  # noqa: E402

__all__ = ["LightCurves", "RunConfig", "__version__", "ingest_text", "open_catalog", "query", "run"]
