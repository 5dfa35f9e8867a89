"""An output inside its input folder is refused before any work (issue 20 item 13): a rerun
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
