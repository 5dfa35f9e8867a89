"""The ``vartype`` feature classifier: catalog columns of a source's bands, by band role, into
a LightGBM booster whose raw scores are calibrated by one temperature.

Why band roles: a model trained on EROS-1's blue and red bands reads any survey's bluer and
redder band through :data:`BAND_ROLES`, so its features (and its colour) keep their meaning.
Why LightGBM's text format: the booster loads with ``Booster(model_str=...)``, which parses
numbers and never executes code from the file (no pickle).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

from vsbatch.errors import UsageError

MODEL_FORMAT = "lightgbm-text"

# Survey band name -> role; the bluer band of a survey is "blue", the redder "red".
BAND_ROLES: dict[str, str] = {
    "EROS_B": "blue", "EROS_R": "red",
    "EROS2_B": "blue", "EROS2_R": "red",
    "MACHO_B": "blue", "MACHO_R": "red",
    "SDSS_g": "blue", "SDSS_r": "red", "g": "blue", "r": "red",
    "ZTF_g": "blue", "ZTF_r": "red", "zg": "blue", "zr": "red",
    "OGLE_V": "blue", "OGLE_I": "red",
    "ASAS_V": "blue", "ASAS_I": "red",
}  # fmt: skip
ROLES = ("blue", "red")

# Per-light-curve catalog columns read for every role (log10 taken of the period).
BAND_COLUMNS = (
    "period", "log10_fap_baluev", "power", "amplitude", "amplitude_robust", "r21", "phi21",
    "r31", "phi31", "fourier_r2", "stetson_j", "stetson_k", "skewness", "kurtosis",
    "von_neumann_eta", "mag_median", "mag_std", "n_obs",
)  # fmt: skip
PEAK_COLUMNS = ("top_periods", "top_powers")  # lists, best peak first
PEAK_FEATURES = ("log10_period_2", "log10_period_3", "power_2_over_1", "power_3_over_1")
SOURCE_COLUMNS = ("period_multiband", "log10_fap_multiband", "power_multiband")
CROSS_FEATURES = (
    "colour", "log10_period_ratio", "log10_multiband_over_red", "log10_amplitude_ratio",
    "log10_period_multiband", "log10_fap_multiband", "power_multiband",
)  # fmt: skip
INPUT_COLUMNS = (*BAND_COLUMNS, *PEAK_COLUMNS, *SOURCE_COLUMNS)


def feature_names() -> list[str]:
    """Names of the model's inputs, in column order (the card's ``architecture.features``)."""
    band = [*("log10_period" if c == "period" else c for c in BAND_COLUMNS), *PEAK_FEATURES]
    per_role = [f"{role}_{c}" for role in ROLES for c in band]
    return [*per_role, *CROSS_FEATURES]


def band_role_slots(band: np.ndarray, roles: dict[str, str]) -> np.ndarray:
    """Role index (0 blue, 1 red) of every light curve's band; -1 for an unmapped band."""
    index = {name: ROLES.index(role) for name, role in roles.items()}
    return np.array([index.get(str(b), -1) for b in band], dtype=np.int64)


@dataclass(frozen=True)
class SourceFeatures:
    """Features of every source (first axis = source number) and which sources have any."""

    x: np.ndarray  # (n_sources, n_features) float64, NaN where missing
    ok: np.ndarray  # bool: at least one light curve in a mapped band


def _floats(column: object) -> np.ndarray:
    """A column (Arrow or NumPy) as float64, nulls as NaN."""
    if hasattr(column, "to_numpy"):
        column = column.to_numpy(zero_copy_only=False)
    return np.asarray(column, dtype=float)


def _peaks(column: object, k: int) -> np.ndarray:
    """A list column (Arrow or NumPy objects) as (n, k) floats, NaN where a peak is missing."""
    rows = column.to_pylist() if hasattr(column, "to_pylist") else list(column)
    out = np.full((len(rows), k), np.nan)
    for i, row in enumerate(rows):
        if row is not None:
            vals = np.asarray(row, float)[:k]
            out[i, : len(vals)] = vals
    return out


def _band_values(columns: dict[str, object], n: int) -> np.ndarray:
    """Per light curve, the role features: BAND_COLUMNS then PEAK_FEATURES."""
    values = np.column_stack([_floats(columns[c]) for c in BAND_COLUMNS])
    values[:, 0] = _log10(values[:, 0])
    periods = _peaks(columns.get("top_periods", [None] * n), 3)
    powers = _peaks(columns.get("top_powers", [None] * n), 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = powers[:, 1:] / powers[:, :1]
    return np.column_stack([values, _log10(periods[:, 1:]), ratios])


def _log10(a: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, np.log10(np.where(a > 0, a, 1.0)), np.nan)


def source_features(
    columns: dict[str, np.ndarray],
    band: np.ndarray,
    source_index: np.ndarray,
    roles: dict[str, str],
) -> SourceFeatures:
    """Per source, the columns of its best-sampled light curve in each role plus the cross-band
    features; the same function builds training rows and a run's inputs."""
    n_src = int(source_index.max()) + 1 if len(source_index) else 0
    slot = band_role_slots(band, roles)
    n_obs = np.nan_to_num(_floats(columns["n_obs"]), nan=-1.0)
    values = _band_values(columns, len(slot))
    per_band = np.full((n_src, len(ROLES), values.shape[1]), np.nan)
    best = np.full((n_src, len(ROLES)), -2.0)
    for i in np.flatnonzero(slot >= 0):
        s, r = source_index[i], slot[i]
        if n_obs[i] > best[s, r]:
            best[s, r] = n_obs[i]
            per_band[s, r] = values[i]
    shared = np.full((n_src, len(SOURCE_COLUMNS)), np.nan)
    for k, c in enumerate(SOURCE_COLUMNS):
        if c in columns:
            shared[source_index, k] = _floats(columns[c])
    at = {c: k for k, c in enumerate(BAND_COLUMNS)}
    blue, red = per_band[:, 0], per_band[:, 1]
    cross = np.column_stack([
        blue[:, at["mag_median"]] - red[:, at["mag_median"]],
        blue[:, at["period"]] - red[:, at["period"]],
        _log10(shared[:, 0]) - red[:, at["period"]],
        _log10(blue[:, at["amplitude"]]) - _log10(red[:, at["amplitude"]]),
        _log10(shared[:, 0]), shared[:, 1], shared[:, 2],
    ])  # fmt: skip
    x = np.concatenate([per_band.reshape(n_src, -1), cross], axis=1)
    return SourceFeatures(x, best.max(axis=1) >= 0)


def softmax(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``scores / temperature``."""
    z = np.asarray(scores, float) / temperature
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def lightgbm() -> ModuleType:
    """The lightgbm module, imported only where a booster is trained or loaded."""
    try:
        import lightgbm as lgb
    except ImportError as exc:
        raise UsageError("the vartype model needs lightgbm (pip install lightgbm)") from exc
    return lgb


class VartypeModel:
    """A LightGBM booster and its calibration temperature (from the card's architecture)."""

    def __init__(self, architecture: dict) -> None:
        self.architecture = architecture
        self.booster = None

    @classmethod
    def from_architecture(cls, architecture: dict) -> VartypeModel:
        return cls(architecture)

    def load_text(self, text: str) -> None:
        """Parse a LightGBM text model (numbers only; nothing in it is executed)."""
        self.booster = lightgbm().Booster(model_str=text)
        n_classes, n_features = self.architecture["n_classes"], len(self.architecture["features"])
        if self.booster.num_model_per_iteration() != n_classes or (
            self.booster.num_feature() != n_features
        ):
            raise ValueError(
                f"booster has {self.booster.num_model_per_iteration()} classes and "
                f"{self.booster.num_feature()} features; the card says {n_classes} and {n_features}"
            )

    def raw_scores(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros((0, self.architecture["n_classes"]))
        return np.asarray(self.booster.predict(x, raw_score=True), float)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (n, n_classes)."""
        return softmax(self.raw_scores(x), float(self.architecture.get("temperature", 1.0)))
