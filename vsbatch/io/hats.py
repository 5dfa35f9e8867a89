"""HATS catalogs in and out: HEALPix-pixel partitions, reading HATS inputs, HATS metadata.

A source with a position (``ra``, ``dec`` carried from the input) belongs to the HEALPix
pixel holding its order-29 spatial index (``_healpix_29``). Such runs partition by
:class:`PixelTree` instead of the source-id hash tree, and the committed catalog is a HATS
catalog that lsdb opens: pixel folders ``dataset/Norder=K/Dir=D/Npix=P/`` (``hats_npix_suffix``
``/``, so each file keeps vsbatch's run-unique name) plus ``hats.properties``,
``partition_info.csv``, ``dataset/_metadata`` and ``dataset/_common_metadata`` written by the
``hats`` library. The vsbatch manifest stays the commit point.

The ``hats`` and ``nested-pandas`` packages are optional (``pip install 'vsbatch[hats]'``) and
imported only when a HATS catalog is read or written; :class:`PixelTree` needs only NumPy.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from vsbatch._version import __version__
from vsbatch.errors import InputError
from vsbatch.schema import position_columns, table_schema

log = logging.getLogger("vsbatch")

HATS = "hats"  # catalog layouts recorded in the manifest
HIVE = "hive"
PROPERTIES_FILE = "hats.properties"
COLLECTION_FILE = "collection.properties"  # a main catalog with margins or indexes
NPIX_SUFFIX = "/"  # every pixel is a folder: files keep run-unique names, as in the Hive layout
HATS_DATA_GLOB = "dataset/Norder=*/Dir=*/Npix=*/part-*.parquet"  # to find files of crashed commits
_NAME = re.compile(r"h(\d+)p(\d+)")


def hats_installed() -> bool:
    """Whether the optional packages that read and write HATS catalogs are importable."""
    try:
        import hats  # noqa: F401
        import nested_pandas  # noqa: F401
    except ImportError:
        return False
    return True


def _require_hats(source: str) -> None:
    if not hats_installed():
        raise InputError(
            f"{source}: is a HATS catalog; reading it needs the optional packages hats and "
            "nested-pandas: pip install 'vsbatch[hats]'"
        )


# --- partitions ---------------------------------------------------------------------------


def pixel_name(order: int, pixel: int) -> str:
    """The partition name of a HEALPix pixel (journal, failures table, ``part`` column)."""
    return f"h{order}p{pixel}"  # a letter first, like o3p5 of the hash tree: SQL keeps it text


def parse_pixel_name(name: str) -> tuple[int, int]:
    """(order, pixel) of a partition name made by :func:`pixel_name`."""
    match = _NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"{name!r} is not a HEALPix partition name (h<order>p<pixel>)")
    return int(match.group(1)), int(match.group(2))


def _shift(order: int) -> int:
    return 2 * (position_columns().spatial_index_order - order)


@dataclass(frozen=True)
class PixelTree:
    """Disjoint HEALPix pixels (order, pixel), sorted by position along the nested curve.

    Same interface as :class:`vsbatch.partitioning.PartitionTree`, with the spatial index as
    the key: a pixel costing more than the bound is split into its four children (only those
    holding sources are kept, as in HATS); a key outside every pixel gets the coarsest pixel
    that overlaps none, so an update never moves a committed source.
    """

    pixels: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        starts, ends = self._bounds()
        if np.any(np.diff(starts) <= 0) or np.any(ends[:-1] > starts[1:]):
            raise ValueError("HEALPix partitions must be disjoint and sorted")

    @property
    def names(self) -> list[str]:
        return [pixel_name(o, p) for o, p in self.pixels]

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        starts = np.array([p << _shift(o) for o, p in self.pixels], dtype=np.int64)
        ends = np.array([(p + 1) << _shift(o) for o, p in self.pixels], dtype=np.int64)
        return starts, ends

    def assign(self, keys: np.ndarray) -> np.ndarray:
        """Index of the pixel holding each spatial index value."""
        keys = np.asarray(keys, dtype=np.int64)
        starts, ends = self._bounds()
        if not np.all(_inside(starts, ends, keys)):
            raise ValueError("a spatial index lies outside every partition pixel")
        return np.searchsorted(starts, keys, side="right") - 1

    def leaves_of_rows(self, table: pa.Table) -> np.ndarray:
        """Pixel index of every row of a long table (by its spatial index column)."""
        return self.assign(table.column(position_columns().spatial_index).to_numpy())

    def refine(self, keys: np.ndarray, costs: np.ndarray, max_cost: int) -> PixelTree:
        """Cover every key, then split every pixel costing more than ``max_cost``."""
        by_key = np.argsort(keys, kind="stable")
        keys = np.asarray(keys, dtype=np.int64)[by_key]
        cum = np.concatenate([[0], np.cumsum(np.asarray(costs)[by_key], dtype=np.int64)])
        out: list[tuple[int, int]] = []
        pixels = sorted(self.pixels + self._cover(keys), key=lambda op: op[1] << _shift(op[0]))
        for order, pixel in pixels:
            _split(order, pixel, keys, cum, max_cost, out)
        return PixelTree(tuple(out))

    def _cover(self, keys: np.ndarray) -> tuple[tuple[int, int], ...]:
        """Coarsest pixels, disjoint from the tree's, for the keys no pixel holds.

        Nested pixels either contain each other or are disjoint, so a pixel chosen here never
        contains another one chosen here (its parent would overlap a pixel of the tree).
        """
        starts, ends = self._bounds()
        todo = keys[~_inside(starts, ends, keys)]
        added: list[tuple[int, int]] = []
        while todo.size:
            key = int(todo[0])
            for order in range(position_columns().spatial_index_order + 1):
                pixel = key >> _shift(order)
                lo, hi = pixel << _shift(order), (pixel + 1) << _shift(order)
                before = np.searchsorted(starts, lo, side="right") - 1
                overlaps = (before >= 0 and ends[before] > lo) or (
                    np.searchsorted(starts, lo, "left") < np.searchsorted(starts, hi, "left")
                )
                if not overlaps:
                    break
            added.append((order, pixel))
            todo = todo[(todo < lo) | (todo >= hi)]
        return tuple(added)

    @classmethod
    def build(cls, keys: np.ndarray, costs: np.ndarray, max_cost: int) -> PixelTree:
        """The coarsest pixels (from order 0) whose sources cost at most ``max_cost``."""
        return cls(()).refine(keys, costs, max_cost)

    def to_json(self) -> list[str]:
        return self.names

    @classmethod
    def from_json(cls, names: list[str]) -> PixelTree:
        return cls(tuple(parse_pixel_name(n) for n in names))


def _inside(starts: np.ndarray, ends: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Whether each key lies in one of the sorted, disjoint ranges [starts, ends)."""
    if not len(starts):
        return np.zeros(len(keys), dtype=bool)
    idx = np.searchsorted(starts, keys, side="right") - 1
    return (idx >= 0) & (keys < ends[np.maximum(idx, 0)])


def _split(
    order: int, pixel: int, keys: np.ndarray, cum: np.ndarray, max_cost: int, out: list
) -> None:
    shift = _shift(order)
    lo = int(np.searchsorted(keys, pixel << shift, "left"))
    hi = int(np.searchsorted(keys, (pixel + 1) << shift, "left"))
    last = order >= position_columns().spatial_index_order
    if cum[hi] - cum[lo] <= max_cost or hi - lo <= 1 or last:
        out.append((order, pixel))
        return
    for child in range(4 * pixel, 4 * pixel + 4):
        start, end = child << _shift(order + 1), (child + 1) << _shift(order + 1)
        if np.searchsorted(keys, start) < np.searchsorted(keys, end):  # it holds sources
            _split(order + 1, child, keys, cum, max_cost, out)


# --- input ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HatsInput:
    """The pixel files of a HATS catalog and how its position columns map to vsbatch's."""

    paths: tuple[str, ...]  # pixel files or folders (hats_npix_suffix "/"), as the filesystem's
    pixels: tuple[tuple[int, int], ...]
    column_map: dict[str, str]  # canonical name -> the catalog's column


def is_hats_catalog(fs: pafs.FileSystem, path: str) -> bool:
    """Whether ``path`` is the root folder of a HATS catalog or collection of catalogs."""
    names = (PROPERTIES_FILE, COLLECTION_FILE)
    infos = fs.get_file_info([f"{path.rstrip('/')}/{name}" for name in names])
    return any(info.type == pafs.FileType.File for info in infos)


def read_hats_input(source: str, location: str) -> HatsInput:
    """Pixels, pixel paths and position columns of the catalog at ``location`` (a URL or an
    absolute path; of a collection, its main catalog)."""
    _require_hats(source)
    import hats
    from hats.catalog import CatalogCollection, CatalogType

    try:
        catalog = hats.read_hats(location)
    except (OSError, ValueError) as exc:
        raise InputError(f"{source}: cannot read as a HATS catalog ({exc})") from exc
    if isinstance(catalog, CatalogCollection):
        catalog = catalog.main_catalog
    info = catalog.catalog_info
    if info.catalog_type not in (CatalogType.OBJECT, CatalogType.SOURCE):
        raise InputError(f"{source}: a HATS {info.catalog_type} catalog has no light curves")
    pos = position_columns()
    column_map = {pos.ra: info.ra_column, pos.dec: info.dec_column}
    if info.healpix_column and info.healpix_order == pos.spatial_index_order:
        column_map[pos.spatial_index] = info.healpix_column
    pixels = catalog.get_healpix_pixels()
    root, suffix = catalog.catalog_base_dir, info.npix_suffix
    return HatsInput(
        paths=tuple(hats.io.pixel_catalog_file(root, px, npix_suffix=suffix).path for px in pixels),
        pixels=tuple((px.order, px.pixel) for px in pixels),
        column_map={k: v for k, v in column_map.items() if v},
    )


def spatial_index(table: pa.Table, label: str) -> pa.Array:
    """The order-29 HEALPix index of every row's (ra, dec), computed by hats."""
    from hats.pixel_math.spatial_index import compute_spatial_index

    pos = position_columns()
    ra = table.column(pos.ra).to_numpy(zero_copy_only=False).astype(np.float64)
    dec = table.column(pos.dec).to_numpy(zero_copy_only=False).astype(np.float64)
    bad = ~(np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90.0))
    if bad.any():
        raise InputError(
            f"{label}: {int(bad.sum())} rows have a null, non-finite or out-of-range position "
            f"({pos.ra}, {pos.dec} in degrees, |{pos.dec}| <= 90)"
        )
    return pa.array(compute_spatial_index(ra, dec, pos.spatial_index_order), pa.int64())


def spatial_layout(carried: list[str]) -> str:
    """HATS when sources carry positions and the hats packages are installed, else Hive."""
    pos = position_columns()
    if not {pos.ra, pos.dec} <= set(carried):
        return HIVE
    if pos.spatial_index in carried and hats_installed():
        return HATS
    if not hats_installed():
        log.warning(
            "sources have %s/%s, but the optional hats packages are not installed: writing "
            "the plain Hive layout (pip install 'vsbatch[hats]' for a HATS catalog)",
            pos.ra,
            pos.dec,
        )
    return HIVE


# --- output ---------------------------------------------------------------------------------


def pixel_file(partition: str, file_name: str) -> str:
    """Path of a partition's data file, relative to the catalog root (hats' pixel path)."""
    from hats.io.paths import new_pixel_catalog_file
    from hats.pixel_math import HealpixPixel

    order, pixel = parse_pixel_name(partition)
    path = new_pixel_catalog_file(
        "/",
        HealpixPixel(order, pixel),
        create_dirs=False,
        npix_suffix=NPIX_SUFFIX,
        npix_parquet_name=file_name,
    )
    return path.path.lstrip("/")


def with_partition_column(table: pa.Table, partition: str) -> pa.Table:
    """Store the ``part`` column in the file: HATS paths have no ``part=`` folder."""
    field = table_schema("catalog").arrow().field("part")
    return table.append_column(field, pa.array([partition] * table.num_rows, pa.string()))


def _metadata_files(root: Path) -> list[Path]:
    from hats.io import paths

    pointers = [
        paths.get_partition_info_pointer(root),
        paths.get_parquet_metadata_pointer(root),
        paths.get_common_metadata_pointer(root),
    ]
    return [root / PROPERTIES_FILE, root / "properties"] + [Path(p.path) for p in pointers]


def write_hats_metadata(root: Path, files: list[str], work: Path) -> None:
    """Write the HATS metadata of exactly ``files`` with hats, then move it into ``root``.

    hats derives ``_metadata`` from the files of a folder, and the committed catalog still
    holds the previous commit's files until the manifest is replaced; so ``work`` gets hard
    links to ``files`` only, hats writes there, and each metadata file is renamed into place.
    """
    import hats
    from hats.catalog import CatalogType, PartitionInfo, TableProperties
    from hats.catalog.dataset.hats_properties import HatsProperties

    shutil.rmtree(work, ignore_errors=True)  # left by a commit that crashed part-way
    for rel in files:
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        os.link(root / rel, work / rel)
    rows = hats.io.write_parquet_metadata(work)
    partitions = PartitionInfo([hats.io.paths.get_healpix_from_path(rel) for rel in files])
    partitions.write_to_file(catalog_path=work)
    pos = position_columns()
    provenance = HatsProperties.new_provenance_dict(work, builder=f"vsbatch v{__version__}")
    TableProperties(
        catalog_name=root.resolve().name,
        catalog_type=CatalogType.OBJECT,
        total_rows=rows,
        ra_column=pos.ra,
        dec_column=pos.dec,
        healpix_column=pos.spatial_index,
        healpix_order=pos.spatial_index_order,
        npix_suffix=NPIX_SUFFIX,
        hats_order=partitions.get_highest_order(),
        moc_sky_fraction=partitions.calculate_fractional_coverage(),
        **provenance,
    ).to_properties_file(work)
    for target in _metadata_files(root):
        os.replace(work / target.relative_to(root), target)


def remove_hats_metadata(root: Path) -> None:
    """Drop the HATS metadata of a superseded HATS commit (the new one is Hive, or empty)."""
    if not (root / PROPERTIES_FILE).exists():
        return
    for target in _metadata_files(root):
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
