"""The compiled-kernel cache folder: the user's cache unless NUMBA_CACHE_DIR is given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vsbatch._numba_cache import default_cache_dir


def _cache_dir_in_fresh_process(env: dict[str, str]) -> str:
    code = "import vsbatch.kernels.stats, numba.core.config as c; print(c.CACHE_DIR)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_default_is_the_users_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    assert _cache_dir_in_fresh_process(env) == str(tmp_path / "vsbatch" / "numba")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "vsbatch" / "numba"


def test_an_explicit_numba_cache_dir_is_kept(tmp_path: Path) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "mine")}
    assert _cache_dir_in_fresh_process(env) == str(tmp_path / "mine")
