"""Run configuration: every option that changes catalog content, hashed into the manifest.

Defaults are the papers' (``../shared/seeds``): a 10th-order Fourier fit with 0.35 mag
rejection and the PS17 frequency analysis of the Blazhko paper, Mahabal et al. dm-dt bins.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields

from vsbatch._version import __version__
from vsbatch.schema import output_schema_digest

ALL_STAGES = ("stats", "period", "multiband", "pdm", "fourier", "freqanalysis", "dmdt")
# PDM is opt-in: on the default grid it costs about 3x all other stages together (README).
DEFAULT_STAGES = ("stats", "period", "multiband", "fourier", "freqanalysis", "dmdt")
FOLD_PERIOD_MODES = ("auto", "search", "catalog")
# Sample cuts of the Blazhko paper's Section 2 (vsbatch.stages.blazhko.paper_sample_cuts)
BLAZHKO_CUTS = ("none", "paper", "paper-mc")


@dataclass(frozen=True)
class RunConfig:
    """What a run computes. Execution settings (workers, cluster) are not part of it."""

    min_epochs: int = 5
    partition_epochs: int = 100_000
    stages: tuple[str, ...] = DEFAULT_STAGES
    column_map: dict[str, str] = field(default_factory=dict)
    # period search (grid as astropy's autofrequency: 1/T .. fmax, samples_per_peak per 1/T)
    fmin: float | None = None
    fmax: float = 25.0
    samples_per_peak: float = 5.0
    top_k: int = 3
    max_frequencies: int = 5_000_000  # per light curve: bounds the work an absurd time can ask
    period_backend: str = "auto"
    pdm_bins: int = 10
    fold_period: str = "auto"  # auto: catalog_period when finite, else the searched period
    # Fourier decomposition (Blazhko paper Eq. 4, Section 3.1.1)
    fourier_order: int = 10
    clip_mag: float = 0.35
    # dm-dt pair histograms (Mahabal et al. 2017 bins); above max_pairs a seeded pair sample
    dmdt_max_pairs: int = 10_000_000
    seed: int = 0
    # models run after the stages (names of shipped artifacts or artifact folders)
    models: tuple[str, ...] = ()
    model_batch_size: int = 1024
    # Blazhko model: the per-source input column naming RRab sources (None: the model card's
    # rrab_selection), and which RRab it scores (paper cuts exclude sparse surveys: off)
    type_column: str | None = None
    blazhko_cuts: str = "none"

    def __post_init__(self) -> None:
        if self.min_epochs < 1:
            raise ValueError("min_epochs must be at least 1")
        if self.partition_epochs < 1:
            raise ValueError("partition_epochs must be at least 1")
        unknown = set(self.stages) - set(ALL_STAGES)
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)}; choose from {ALL_STAGES}")
        if self.fold_period not in FOLD_PERIOD_MODES:
            raise ValueError(f"fold_period must be one of {FOLD_PERIOD_MODES}")
        if self.fmax <= 0 or self.samples_per_peak <= 0 or self.top_k < 1:
            raise ValueError("fmax and samples_per_peak must be positive, top_k at least 1")
        if self.fourier_order < 1:
            raise ValueError("fourier_order must be at least 1")
        if self.blazhko_cuts not in BLAZHKO_CUTS:
            raise ValueError(f"blazhko_cuts must be one of {BLAZHKO_CUTS}")
        if self.blazhko_cuts == "paper-mc" and "fourier" not in self.stages:
            raise ValueError("blazhko_cuts=paper-mc needs the fourier stage (its amplitude)")
        if self.type_column is not None and not self.type_column.strip():
            raise ValueError("type_column must be a column name")
        needs_period = {"multiband", "pdm", "fourier", "freqanalysis"} & set(self.stages)
        if needs_period and "period" not in self.stages and self.fold_period != "catalog":
            raise ValueError(
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
            raise ValueError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
        data = dict(data)
        for key in ("stages", "models"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)
