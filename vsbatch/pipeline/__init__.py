"""The drivers that map per-partition work over a cluster and commit what it made.

- :func:`run` (``vsbatch run``): a light-curve input through the stages and models into a
  catalog, or, with models, a catalog-parameters input through :func:`classify_catalog`;
- :func:`build_shards`: a labelled input cut into training shards by the same passes.

With :mod:`vsbatch.cluster`, the only place that imports ``distributed``.
"""

from vsbatch.pipeline.catalog_route import CatalogClassification, classify_catalog
from vsbatch.pipeline.commit import storage_error
from vsbatch.pipeline.run import RunSummary, run
from vsbatch.pipeline.shards import ShardSet, build_shards

__all__ = [
    "CatalogClassification",
    "RunSummary",
    "ShardSet",
    "build_shards",
    "classify_catalog",
    "run",
    "storage_error",
]
