"""Per-light-curve outcome codes shared by the kernels, and the failure text of each."""

from __future__ import annotations

from enum import IntEnum


class KernelStatus(IntEnum):
    """Per-segment outcome of the kernels in fourier, prewhiten, dmdt and interp.

    Non-zero codes come with NaN outputs (zero counts for dm-dt); the stage turns them into a
    failure record with :data:`STATUS_REASONS`.
    """

    OK = 0
    TOO_FEW_POINTS = 1  # fewer usable epochs (finite time/mag, finite err > 0) than needed
    BAD_FREQUENCY = 2  # frequency NaN, infinite or <= 0
    SINGULAR = 3  # least-squares normal matrix not positive definite (e.g. phase gaps)


STATUS_REASONS = {
    KernelStatus.OK: "ok",
    KernelStatus.TOO_FEW_POINTS: "too few usable epochs",
    KernelStatus.BAD_FREQUENCY: "frequency is NaN, infinite or not positive",
    KernelStatus.SINGULAR: "singular least-squares problem (poor phase coverage)",
}
