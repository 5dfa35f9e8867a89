"""Option values are validated before any work: a bad value is exit 2 naming
the option, never a run where every light curve fails with exit 0."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import FIXTURES
from tests.helpers import run_cli
from vsbatch.config import RunConfig
from vsbatch.errors import UsageError
from vsbatch.io.catalog import open_catalog

INPUT = FIXTURES / "asas_i_12.parquet"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fmax", "nan"], "fmax must be a finite number"),
        (["--fmax", "inf"], "fmax must be a finite number"),
        (["--samples-per-peak", "nan"], "samples_per_peak must be a finite number"),
        (["--samples-per-peak", "1e-9"], "samples_per_peak must be at least 1"),
        (["--fmin", "100"], "fmin must be positive and below fmax=25"),
        (["--fmin", "-1"], "fmin must be positive"),
        (["--max-frequencies", "0"], "max_frequencies must be at least 1"),
        (["--dmdt-max-pairs", "0"], "dmdt_max_pairs must be at least 1"),
        (["--pdm-bins", "-3"], "pdm_bins must be at least 2"),
        (["--pdm-bins", "0"], "pdm_bins must be at least 2"),
        (["--clip-mag", "-1"], "clip_mag must be positive"),
        (["--clip-mag", "nan"], "clip_mag must be a finite number"),
        (["--column", "bogus=x"], "--column bogus=...: not a column vsbatch reads"),
        (["--period-backend", "bogus"], "unknown period backend 'bogus'; choose from auto, numba"),
    ],
)
def test_bad_option_values_exit_2_before_any_work(
    capsys, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "cat"
    code, _, err = run_cli(capsys, "run", INPUT, "-o", out, "--no-cluster", *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists()


def test_job_file_and_api_validate_the_same_way() -> None:
    with pytest.raises(UsageError, match="fmax must be a finite number"):
        RunConfig(fmax=float("nan"))
    with pytest.raises(UsageError, match="not a column vsbatch reads"):
        RunConfig.from_dict({"column_map": {"bogus": "x"}})
    assert RunConfig(column_map={"time": "hjd", "lc": "lightcurve", "period": "P"}).column_map


@pytest.mark.slow
def test_an_absurd_input_period_fails_its_light_curve_not_the_machine(
    capsys, tmp_path: Path
) -> None:
    """A catalogue period of 1e-7 d would make the frequency analysis allocate terabytes; it
    becomes a failure record naming max_frequencies and the other sources are analysed."""
    table = pq.read_table(INPUT)
    ids = table.column("source_id").to_pylist()
    bad = ids[0]
    period = [1e-7 if s == bad else 0.5 for s in ids]
    src = tmp_path / "in.parquet"
    table = table.append_column("period", pa.array(period))
    pq.write_table(table.append_column("type", pa.array(["RRab"] * len(ids))), src)
    out = tmp_path / "cat"
    stages = ("--stages", "stats,fourier,freqanalysis", "--fold-period", "catalog",
              "--type-column", "type")  # typed RR Lyrae: analysed whatever their period
    code, _, err = run_cli(capsys, "run", src, "-o", out, "--no-cluster", *stages)
    assert code == 0, err
    fails = open_catalog(out).failures().to_pandas()
    mine = fails[(fails.source_id == bad) & (fails.stage == "freqanalysis")]
    assert len(mine) == 1 and "> max_frequencies" in mine.reason.iloc[0]
    assert set(fails[fails.stage == "freqanalysis"].source_id) == {bad}
