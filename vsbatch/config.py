"""Run configuration: every option that changes catalog content, hashed into the manifest.

Defaults are the papers' (except the Fourier order, chosen by BIC up to the paper's 10th; the
fixed order is an option): 0.35 mag rejection of the Fourier fit and the PS17
frequency analysis of the Blazhko paper, Mahabal et al. dm-dt bins. Each field also carries
its command-line help (``option``), so ``vsbatch run``, job files and the Python API share
one declaration of every default.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from vsbatch._version import __version__
from vsbatch.errors import UsageError
from vsbatch.schema import (
    input_columns,
    nested_column_name,
    output_schema_digest,
    position_columns,
    renamed_on_output,
)

ALL_STAGES = ("stats", "period", "multiband", "pdm", "fourier", "freqanalysis", "dmdt")
# PDM is opt-in: on the default grid it costs about 3x all other stages together (README).
DEFAULT_STAGES = ("stats", "period", "multiband", "fourier", "freqanalysis", "dmdt")
FOLD_PERIOD_MODES = ("auto", "search", "catalog")
MAX_DETREND_DEGREE = 5  # higher powers of time fit pulsations of long light curves, not trends
# Sample cuts of the Blazhko paper's Section 2 (vsbatch.stages.blazhko.paper_sample_cuts)
BLAZHKO_CUTS = ("none", "paper", "paper-mc")
# How the Fourier stage picks its order: least BIC up to fourier_order, or fourier_order itself
FOURIER_ORDER_SELECTIONS = ("bic", "fixed")


@dataclass(frozen=True)
class Option:
    """How a configuration field is offered to users: its flag, help and lowest valid value.

    ``parse`` turns what the command line gave (a text, or the list of texts of a
    ``repeatable`` flag) into the field's value; without it the field's own type reads the text.
    ``default_text`` describes a default that is only known at run time (such as 1/baseline).
    ``minimum``: smaller values are refused (``check_minimums``) before any work, as are NaN
    and infinite numbers in any field.
    """

    help: str
    flag: str | None = None  # default: the field name with dashes
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    repeatable: bool = False
    parse: Callable[[Any], Any] | None = None
    default_text: str | None = None
    minimum: float | None = None

    def flag_name(self, field_name: str) -> str:
        return self.flag or "--" + field_name.replace("_", "-")


def cli(**option: Any) -> dict[str, Option]:
    """Field metadata describing the field's command-line flag (see ``Option``)."""
    return {"cli": Option(**option)}


def command_line_options(cls: type) -> list[tuple[str, Option, Any]]:
    """``(field name, Option, default)`` of the fields of ``cls`` offered on the command line."""
    out = []
    for f in fields(cls):
        if "cli" in f.metadata:
            default = f.default if f.default_factory is MISSING else f.default_factory()
            out.append((f.name, f.metadata["cli"], default))
    return out


def check_minimums(settings: Any) -> None:
    """UsageError naming the first field of a config dataclass below its declared minimum or
    not a finite number (``--fmax nan`` would otherwise fail every light curve, exit 0)."""
    for name, option, _ in command_line_options(type(settings)):
        value = getattr(settings, name)
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{name} must be a finite number, got {value}")
        if option.minimum is not None and value is not None and value < option.minimum:
            raise UsageError(f"{name} must be at least {option.minimum}")


def mappable_columns() -> tuple[str, ...]:
    """The vsbatch names ``--column NAME=COLUMN`` can map: input, nested, position and renamed
    per-source columns."""
    pos = position_columns()
    names = [c.name for c in input_columns()] + [nested_column_name()]
    extra = [pos.ra, pos.dec, pos.spatial_index, *renamed_on_output()]
    return tuple(dict.fromkeys([*names, *extra]))


def parse_stages(text: str) -> tuple[str, ...]:
    """``default``, ``all``, a comma list, or edits such as ``default,pdm`` / ``default,-dmdt``.

    Unknown names are kept, so that ``RunConfig`` refuses them with the list of choices.
    """
    chosen: list[str] = []
    for item in (s.strip() for s in text.split(",") if s.strip()):
        if item == "default":
            chosen.extend(DEFAULT_STAGES)
        elif item == "all":
            chosen.extend(ALL_STAGES)
        elif item.startswith("-"):
            chosen = [s for s in chosen if s != item[1:]]
        else:
            chosen.append(item)
    known = tuple(s for s in ALL_STAGES if s in chosen)
    return known + tuple(s for s in dict.fromkeys(chosen) if s not in ALL_STAGES)


def parse_key_values(items: list[str]) -> dict[str, str]:
    """``["KEY=VALUE", ...]`` as a dict; UsageError names the first item without both parts."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"expected KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def detrend_degree(text: str) -> int | None:
    """The polynomial degree of a ``detrend`` setting (``none`` or ``poly:N``, N = 0..5)."""
    if text == "none":
        return None
    kind, _, degree = text.partition(":")
    if kind != "poly" or not degree.isdigit() or int(degree) > MAX_DETREND_DEGREE:
        raise UsageError(
            f"detrend must be none or poly:N with N 0..{MAX_DETREND_DEGREE}, got {text!r}"
        )
    return int(degree)


@dataclass(frozen=True)
class RunConfig:
    """What a run computes. Execution settings (workers, cluster) are not part of it."""

    min_epochs: int = field(
        default=5, metadata=cli(minimum=1, help="fewer valid epochs -> failure")
    )
    partition_epochs: int = field(
        default=100_000,
        metadata=cli(
            minimum=1, help="cost bound (rows per partition for a catalog-parameters input)"
        ),
    )
    stages: tuple[str, ...] = field(
        default=DEFAULT_STAGES,
        metadata=cli(
            parse=parse_stages,
            help="comma list of stages (of " + ",".join(ALL_STAGES) + "), all, or edits of the "
            "default such as default,pdm or default,-dmdt",
        ),
    )
    column_map: dict[str, str] = field(
        default_factory=dict,
        metadata=cli(
            flag="--column",
            metavar="NAME=COLUMN",
            repeatable=True,
            parse=parse_key_values,
            help="map a vsbatch column to the input's (time=hjd, mag_err=magerr, lc=lightcurve, "
            "band=filtercode; nested sub-columns by their own names); repeatable",
        ),
    )
    # period search (grid as astropy's autofrequency: 1/T .. fmax, samples_per_peak per 1/T)
    fmin: float | None = field(
        default=None, metadata=cli(help="lowest frequency, c/d", default_text="1/baseline")
    )
    fmax: float = field(default=25.0, metadata=cli(help="highest frequency, c/d"))
    samples_per_peak: float = field(
        default=5.0, metadata=cli(minimum=1, help="frequency grid samples per periodogram peak")
    )
    top_k: int = field(default=3, metadata=cli(help="periodogram peaks kept"))
    # bounds the work an absurd time can ask
    max_frequencies: int = field(
        default=5_000_000,
        metadata=cli(minimum=1, help="frequency grid size bound, per light curve"),
    )
    period_backend: str = field(default="auto", metadata=cli(help="auto, numba or nifty-ls"))
    detrend: str = field(
        default="none",
        metadata=cli(
            metavar="none|poly:N",
            help="remove a weighted polynomial of degree N (0-5) in time from each band before "
            "the period and multiband searches (other stages see the observed magnitudes)",
        ),
    )
    pdm_bins: int = field(
        default=10, metadata=cli(minimum=2, help="phase bins of phase dispersion minimisation")
    )
    fold_period: str = field(
        default="auto",
        metadata=cli(
            choices=FOLD_PERIOD_MODES,
            help="period to fold on: auto (catalog_period when finite, else the searched one), "
            "search or catalog",
        ),
    )
    # Fourier decomposition (Blazhko paper Eq. 4, Section 3.1.1)
    fourier_order: int = field(
        default=10,
        metadata=cli(minimum=1, help="harmonics of the Fourier fit (the highest with bic)"),
    )
    fourier_order_selection: str = field(
        default="bic",
        metadata=cli(
            choices=FOURIER_ORDER_SELECTIONS,
            help="Fourier order per light curve: bic (least N ln(chi2/N) + (2K+1) ln N up to "
            "--fourier-order) or fixed (--fourier-order, the paper's)",
        ),
    )
    clip_mag: float = field(default=0.35, metadata=cli(help="Fourier-fit rejection, mag"))
    # dm-dt pair histograms (Mahabal et al. 2017 bins)
    dmdt_max_pairs: int = field(
        default=10_000_000,
        metadata=cli(minimum=1, help="dm-dt pairs per light curve; above it a seeded sample"),
    )
    seed: int = field(default=0, metadata=cli(help="seed of every random choice"))
    # models run after the stages (names of shipped artifacts or artifact folders)
    models: tuple[str, ...] = field(
        default=(),
        metadata=cli(
            flag="--model",
            metavar="NAME_OR_PATH",
            repeatable=True,
            parse=tuple,
            help="apply a model (shipped name such as nnfap, or an artifact folder); repeatable",
        ),
    )
    model_batch_size: int = field(
        default=1024, metadata=cli(minimum=1, help="light curves per model inference batch")
    )
    # Blazhko model: which RRab sources it scores (paper cuts exclude sparse surveys: off)
    type_column: str | None = field(
        default=None,
        metadata=cli(
            metavar="NAME",
            help="blazhko model: per-source input column whose values starting with RRab mark the "
            "sources it scores",
            default_text="the model card's type, then label, else its rule",
        ),
    )
    blazhko_cuts: str = field(
        default="none",
        metadata=cli(
            choices=BLAZHKO_CUTS,
            help="blazhko model: score only RRab passing Jiang et al. (2025) Sect. 2 cuts: paper = "
            "> 350 epochs, mean mag < 18; paper-mc adds mean error < 0.025, amplitude > 0.2 and "
            "> -5 log10(P) - 1 (none: the cuts exclude sparse surveys such as ASAS)",
        ),
    )

    def __post_init__(self) -> None:
        check_minimums(self)
        unknown = set(self.stages) - set(ALL_STAGES)
        if unknown:
            raise UsageError(f"unknown stages {sorted(unknown)}; choose from {ALL_STAGES}")
        if self.fold_period not in FOLD_PERIOD_MODES:
            raise UsageError(f"fold_period must be one of {FOLD_PERIOD_MODES}")
        if not self.fmax > 0 or self.top_k < 1:
            raise UsageError("fmax must be positive, top_k at least 1")
        if self.fmin is not None and not 0 < self.fmin < self.fmax:
            raise UsageError(
                f"fmin must be positive and below fmax={self.fmax:g}, got {self.fmin:g}"
            )
        unknown_columns = sorted(set(self.column_map) - set(mappable_columns()))
        if unknown_columns:
            raise UsageError(
                f"--column {unknown_columns[0]}=...: not a column vsbatch reads; map one of "
                f"{', '.join(mappable_columns())}"
            )
        detrend_degree(self.detrend)
        if not self.clip_mag > 0:
            raise UsageError("clip_mag must be positive")
        if self.fourier_order_selection not in FOURIER_ORDER_SELECTIONS:
            raise UsageError(f"fourier_order_selection must be one of {FOURIER_ORDER_SELECTIONS}")
        if self.blazhko_cuts not in BLAZHKO_CUTS:
            raise UsageError(f"blazhko_cuts must be one of {BLAZHKO_CUTS}")
        if self.blazhko_cuts == "paper-mc" and "fourier" not in self.stages:
            raise UsageError("blazhko_cuts=paper-mc needs the fourier stage (its amplitude)")
        if self.type_column is not None and not self.type_column.strip():
            raise UsageError("type_column must be a column name")
        needs_period = {"multiband", "pdm", "fourier", "freqanalysis"} & set(self.stages)
        if needs_period and "period" not in self.stages and self.fold_period != "catalog":
            raise UsageError(
                f"stages {sorted(needs_period)} need the period stage (or fold_period=catalog)"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    def content_hash(self, model_hashes: tuple[str, ...] = ()) -> str:
        """Hash of everything that changes output values: the options (not the partitioning
        bound), the vsbatch version, the declared output columns and the sha256 of every
        model's weights."""
        content = self.to_dict()
        content.pop("partition_epochs")
        content["vsbatch_version"] = __version__
        content["output_schema"] = output_schema_digest()
        content["model_hashes"] = list(model_hashes)
        text = json.dumps(content, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise UsageError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
        data = dict(data)
        for key in ("stages", "models"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)
