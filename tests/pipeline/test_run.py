"""An output inside its input folder is refused before any work: a rerun
would read the catalog's own files as light curves."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import FIXTURES
from tests.helpers import run_cli


def test_an_output_inside_the_input_folder_is_refused(capsys, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.parquet").write_bytes((FIXTURES / "asas_i_12.parquet").read_bytes())
    out = tmp_path / "in" / "cat"
    code, _, err = run_cli(capsys, "run", tmp_path / "in", "-o", out, "--no-cluster")
    assert code == 2 and "the output is inside the input folder" in err and not out.exists()
    pattern = f"{tmp_path}/**/*.parquet"  # a glob reaching into the output
    elsewhere = tmp_path / "cat"
    assert (
        run_cli(capsys, "run", pattern, "-o", elsewhere, "--no-cluster", "--stages", "stats")[0]
        == 0
    )
    code, _, err = run_cli(capsys, "run", pattern, "-o", elsewhere, "--no-cluster", "--stages",
                           "stats", "--overwrite")  # fmt: skip
    assert code == 2 and "an input file inside the output" in err


def test_a_symlinked_staging_folder_is_refused(capsys, tmp_path: Path) -> None:
    """Issue 20 item 10: ``_staging`` a symlink was a traceback (rmtree refuses links)."""
    (tmp_path / "cat").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "keep.txt").write_text("mine")
    (tmp_path / "cat" / "_staging").symlink_to(tmp_path / "elsewhere")
    code, _, err = run_cli(capsys, "run", FIXTURES / "asas_i_12.parquet", "-o", tmp_path / "cat",
                           "--no-cluster", "--overwrite")  # fmt: skip
    assert code == 2 and "_staging: a symbolic link" in err
    assert (tmp_path / "elsewhere" / "keep.txt").read_text() == "mine"
