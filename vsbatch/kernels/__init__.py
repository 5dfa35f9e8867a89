"""Pure Numba kernels on flat arrays + offsets.

Every kernel takes the epochs of many light curves concatenated into flat float64 arrays
(``time``, ``mag``, ``err``) and an int64 ``offsets`` array of length ``n_segments + 1``
(segment ``i`` is ``offsets[i]:offsets[i+1]``, epochs sorted by time), and loops over all
segments inside one compiled call. Kernels know nothing of files, partitions or Dask.
"""

from vsbatch.kernels.arrays import LightCurves

__all__ = ["LightCurves"]
