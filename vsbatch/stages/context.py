"""What every stage receives: the partition's light curves and the columns computed so far."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vsbatch.config import RunConfig
from vsbatch.failures import FailureLog
from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.status import STATUS_REASONS, KernelStatus


@dataclass
class StageContext:
    """One partition (or one light curve, when a stage is retried alone) inside the stages.

    ``columns`` holds the per-light-curve columns so far (``source_id``, ``band``, carried
    columns and the outputs of earlier stages), aligned with the segments of ``lcs``.
    """

    lcs: LightCurves
    columns: dict[str, object]
    config: RunConfig
    failures: FailureLog

    def value(self, name: str) -> np.ndarray:
        """A column as a NumPy array (nulls as NaN for floats)."""
        col = self.columns[name]
        if isinstance(col, pa.ChunkedArray | pa.Array):
            return col.to_numpy(zero_copy_only=False)
        return np.asarray(col)

    def source_index(self) -> np.ndarray:
        """Index of each light curve's source (non-decreasing: segments are sorted by id)."""
        ids = self.columns["source_id"]
        if not isinstance(ids, pa.ChunkedArray | pa.Array):
            ids = pa.array(ids)
        encoded = pc.dictionary_encode(ids)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        return encoded.indices.to_numpy().astype(np.int64)

    def fail(self, i: int, stage: str, reason: str) -> None:
        sid = self.columns["source_id"][i]
        band = self.columns["band"][i]
        sid = sid.as_py() if hasattr(sid, "as_py") else sid
        band = band.as_py() if hasattr(band, "as_py") else band
        self.failures.add(sid, band, stage, reason)

    def fail_status(self, status: np.ndarray, stage: str) -> None:
        """A failure record for every light curve whose kernel status is not OK."""
        for i in np.flatnonzero(status != KernelStatus.OK):
            self.fail(int(i), stage, STATUS_REASONS[KernelStatus(int(status[i]))])
