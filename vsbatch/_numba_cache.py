"""Where compiled kernels are cached: ``NUMBA_CACHE_DIR``, by default the user's cache folder.

Why: Numba's own default (``cache=True``) writes next to the source, in ``__pycache__`` of the
installed package; a read-only install falls back to a per-user folder, and a re-install or a
second environment compiles everything again (36-122 s for the sample). One folder per
user (``$XDG_CACHE_HOME/vsbatch/numba``, else ``~/.cache/vsbatch/numba``) keeps them in one
place that survives a rebuilt working tree and is cleared with one ``rm -r``; Numba keys each
entry by the source file's path and time stamp and the machine's CPU, so installs and machines
sharing a home folder do not mix. An explicit ``NUMBA_CACHE_DIR`` is kept. Set when ``vsbatch``
is imported, before any kernel module is compiled.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def default_cache_dir() -> Path:
    """The user's cache folder for vsbatch's compiled kernels."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "vsbatch" / "numba"


def use_user_cache() -> str:
    """Point Numba's cache at :func:`default_cache_dir` unless ``NUMBA_CACHE_DIR`` is set; the
    environment carries it to spawned worker processes. Returns the folder in use."""
    path = os.environ.setdefault("NUMBA_CACHE_DIR", str(default_cache_dir()))
    config = sys.modules.get("numba.core.config")
    if config is not None:  # numba read the environment when it was imported
        config.CACHE_DIR = path
    return path


use_user_cache()
