"""``vsbatch run --model blazhko`` options and the candidates figure, on real light
curves: two OGLE bulge RRab and three ASAS I stars with a per-source ``vartype`` column the
model card does not name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import vsbatch
from tests.conftest import FIXTURES
from tests.helpers import catalog_frame, run_cli
from vsbatch.cluster import ClusterSpec
from vsbatch.config import RunConfig
from vsbatch.errors import UsageError
from vsbatch.models.artifacts import load_artifact, save_artifact
from vsbatch.models.blazhko import ARCHITECTURE, CLASS_NAMES, blazhko_resnet34
from vsbatch.report import blazhko_candidates
from vsbatch.represent.phased_image import ImageSpec
from vsbatch.stages.blazhko import paper_sample_cuts

ASAS_TYPES = {"ASAS-230815-8403.9": "RRab", "ASAS-073305+0802.2": "RRab",
              "ASAS-154846-3343.6": "RRc"}  # fmt: skip
STAGES = ("stats", "period", "fourier", "freqanalysis")


@pytest.fixture(scope="module")
def mixed_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OGLE RRab with catalogue periods, ASAS stars without; types in ``vartype``."""
    ogle = pd.read_parquet(FIXTURES / "ogle_blg_rrab_2.parquet")
    ogle = ogle.rename(columns={"label": "vartype"})
    asas = pd.read_parquet(FIXTURES / "asas_i_12.parquet")
    asas = asas[asas.source_id.isin(ASAS_TYPES)]
    asas = asas.assign(vartype=asas.source_id.map(ASAS_TYPES), period=np.nan)
    path = tmp_path_factory.mktemp("mixed") / "in.parquet"
    pd.concat([ogle, asas], ignore_index=True).to_parquet(path)
    return path


def _artifact(folder: Path, model: torch.nn.Module, name: str = "blazhko") -> Path:
    save_artifact(model, folder, name=name, kind="blazhko", version="0.0.1",
                  architecture=ARCHITECTURE,
                  representation={"name": "phased_image", **ImageSpec(size=32).to_dict()},
                  class_names=CLASS_NAMES, training_data={"fingerprint": "none"},
                  command="test")  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def paper_cut_run(mixed_input: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """A random 32 px ResNet-34 (its card names no type column) run with --type-column vartype
    and the paper's cuts, in this process."""
    torch.manual_seed(1)
    tmp = tmp_path_factory.mktemp("paper")
    model = _artifact(tmp / "model", blazhko_resnet34())
    config = RunConfig(fmax=5.0, stages=STAGES, models=(str(model),), type_column="vartype",
                       blazhko_cuts="paper")  # fmt: skip
    summary = vsbatch.run(str(mixed_input), tmp / "cat", config, ClusterSpec(cluster="none"))
    return model, catalog_frame(summary.catalog)


def test_type_column_selects_rrab_and_paper_cuts_record_why(paper_cut_run: tuple) -> None:
    cat = paper_cut_run[1].set_index("source_id")
    rrab = cat.vartype == "RRab"
    assert (cat.blazhko_rrab_by[rrab] == "vartype").all()
    assert cat.blazhko_rrab_by[~rrab].isna().all()
    cuts = paper_sample_cuts(cat.n_obs.to_numpy(), cat.mag_mean.to_numpy())
    cut = rrab & ~cuts.keep
    assert list(cat.index[cut]) == ["ASAS-073305+0802.2"]  # 231 clean epochs
    assert cat.blazhko_cut_by["ASAS-073305+0802.2"] == "n_obs > 350"
    assert cat.blazhko_p_bl[cut].isna().all() and cat.blazhko_class[cut].isna().all()
    scored = rrab & cuts.keep
    assert scored.sum() == 3 and cat.blazhko_p_bl[scored].between(0, 1).all()
    assert cat.blazhko_cut_by[scored].isna().all()
    assert cat[~rrab].filter(like="blazhko_").drop(columns="blazhko_version").isna().all().all()


def test_mc_cuts_add_error_and_amplitude_criteria(mixed_input: Path, paper_cut_run: tuple,
                                                  tmp_path: Path) -> None:  # fmt: skip
    config = RunConfig(fmax=5.0, stages=STAGES, models=(str(paper_cut_run[0]),),
                       type_column="vartype", blazhko_cuts="paper-mc")  # fmt: skip
    summary = vsbatch.run(str(mixed_input), tmp_path / "cat", config, ClusterSpec(cluster="none"))
    cat = catalog_frame(summary.catalog).set_index("source_id")
    rrab = cat[cat.vartype == "RRab"]
    lcs = pd.read_parquet(mixed_input).drop_duplicates(["source_id", "time", "mag", "mag_err"])
    mean_err = lcs.groupby("source_id").mag_err.mean()[rrab.index].to_numpy()
    want = paper_sample_cuts(rrab.n_obs.to_numpy(), rrab.mag_mean.to_numpy(), mean_err=mean_err,
                             amplitude=rrab.amplitude.to_numpy(),
                             period=rrab.fold_period.to_numpy(), cuts="paper-mc")  # fmt: skip
    assert rrab.blazhko_cut_by.fillna("").tolist() == [f or "" for f in want.failed]
    assert "mean_err < 0.025" in rrab.blazhko_cut_by["ASAS-230815-8403.9"]  # ASAS: 0.08 mag
    assert list(rrab.blazhko_p_bl.notna()) == list(want.keep)
    assert rrab.blazhko_p_bl.notna().any()  # OGLE stars pass


@pytest.fixture(scope="module")
def calibrated_model(paper_cut_run: tuple, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random network with its BL logit shifted so that exactly the star it scored highest
    in ``paper_cut_run`` is BL: both classes appear, whatever the random weights."""
    model_dir, cat = paper_cut_run
    p = np.sort(cat.blazhko_p_bl.dropna().to_numpy())[::-1]
    logit = np.log(p / (1 - p))
    assert logit[0] > logit[1]
    net = load_artifact(model_dir).model
    with torch.no_grad():
        net.fc.bias[1] -= float(logit[0] + logit[1]) / 2
    return _artifact(tmp_path_factory.mktemp("calibrated") / "model", net)


def test_report_draws_bl_and_nbl_candidates_from_a_cli_run(
    mixed_input: Path, calibrated_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # the paper's fixed order, so the catalog's clipping is the image's (the card's order 10)
    code, _, err = run_cli(capsys, "run", mixed_input, "-o", tmp_path / "cat", "--no-cluster",
                           "--stages", ",".join(STAGES), "--fmax", "5", "--model",
                           calibrated_model, "--type-column", "vartype", "--blazhko-cuts",
                           "paper", "--fourier-order-selection", "fixed")  # fmt: skip
    assert code == 0, err
    cat = catalog_frame(tmp_path / "cat")
    assert (cat.blazhko_class == "BL").sum() == 1 and (cat.blazhko_class == "nBL").sum() == 2
    png = tmp_path / "candidates.png"
    code, out, err = run_cli(capsys, "report", tmp_path / "cat", "-o", tmp_path / "r.html",
                             "--blazhko-candidates", png, "--per-class", "2")  # fmt: skip
    assert code == 0, err
    assert f"{png}: 1 BL and 2 nBL candidates of blazhko" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(png).size == (640, 660)  # 2 columns x 3.2 in, 6.6 in, 100 dpi
    scored = cat[cat.blazhko_p_bl.notna()]
    bl = scored[scored.blazhko_class == "BL"].source_id.tolist()
    nbl = scored[scored.blazhko_class == "nBL"].sort_values("blazhko_p_bl").source_id.tolist()
    page = (tmp_path / "r.html").read_text()
    assert "Blazhko candidates of blazhko" in page and page.count("<img") >= 5
    s = blazhko_candidates(tmp_path / "cat", tmp_path / "again.png", per_class=2)
    assert [c.source_id for c in s.candidates] == bl + nbl
    assert [c.blazhko_class for c in s.candidates] == ["BL", "nBL", "nBL"]
    assert len(s.figure.panels) == 3 and all(p.y_inverted for p in s.figure.panels)
    assert [p.title.split()[0] for p in s.figure.panels] == bl + nbl
    by_id = scored.set_index("source_id")
    for c in s.candidates:  # the fold of the run: same period, same 0.35 mag clipping
        assert c.fold_period == pytest.approx(by_id.fold_period[c.source_id])
        assert c.n_drawn == by_id.fourier_n_used[c.source_id]
        assert c.p_bl == pytest.approx(by_id.blazhko_p_bl[c.source_id])


def test_two_blazhko_models_in_one_run_and_the_report_picks_one(
    mixed_input: Path, calibrated_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """As the shipped blazhko and blazhko-ogle: each writes its own columns, side by side."""
    torch.manual_seed(2)
    other = _artifact(tmp_path / "other", blazhko_resnet34(), name="blazhko-b")
    code, _, err = run_cli(capsys, "run", mixed_input, "-o", tmp_path / "cat", "--no-cluster",
                           "--stages", ",".join(STAGES), "--fmax", "5", "--model",
                           calibrated_model, "--model", other, "--type-column", "vartype",
                           "--blazhko-cuts", "paper")  # fmt: skip
    assert code == 0, err
    cat = catalog_frame(tmp_path / "cat")
    scored = cat.blazhko_p_bl.notna()
    assert scored.sum() == 3 and (cat.blazhko_b_p_bl.notna() == scored).all()
    assert not np.allclose(cat.blazhko_p_bl[scored], cat.blazhko_b_p_bl[scored])
    png = tmp_path / "b.png"
    code, out, err = run_cli(capsys, "report", tmp_path / "cat", "-o", tmp_path / "r.html",
                             "--blazhko-candidates", png, "--blazhko-model",
                             "blazhko-b")  # fmt: skip
    assert code == 0, err
    assert "candidates of blazhko_b" in out and png.is_file()  # named by its column prefix
    by_id = cat.set_index("source_id")
    for model, column in ((None, "blazhko_p_bl"), ("blazhko-b", "blazhko_b_p_bl")):  # first, named
        s = blazhko_candidates(tmp_path / "cat", tmp_path / "c.png", per_class=1, model=model)
        assert [c.p_bl for c in s.candidates] == pytest.approx(
            [by_id[column][c.source_id] for c in s.candidates]
        )
    code, _, err = run_cli(capsys, "report", tmp_path / "cat", "-o", tmp_path / "r2.html",
                           "--blazhko-candidates", png, "--blazhko-model", "nosuch")  # fmt: skip
    assert code != 0 and "no blazhko model 'nosuch'" in err
    assert "choose one of its blazhko models: blazhko, blazhko-b" in err
    code, _, err = run_cli(capsys, "report", tmp_path / "cat", "-o", tmp_path / "r3.html",
                           "--blazhko-model", "blazhko-b")  # fmt: skip
    assert code == 2 and "needs the figure's PNG path" in err


def test_a_type_column_the_input_lacks_stops_the_run_before_any_work(
    mixed_input: Path, tmp_path: Path
) -> None:
    config = RunConfig(fmax=5.0, stages=STAGES, type_column="sptype")
    with pytest.raises(UsageError, match=r"'sptype' is not a column of the input.*vartype"):
        vsbatch.run(str(mixed_input), tmp_path / "cat", config, ClusterSpec(cluster="none"))
    assert not (tmp_path / "cat").exists()


def test_a_type_column_that_varies_within_a_source_stops_the_run(
    mixed_input: Path, tmp_path: Path
) -> None:
    df = pd.read_parquet(mixed_input)
    df["vartype"] = df["vartype"].where(df.groupby("source_id").cumcount() % 2 == 0, "RRc")
    varying = tmp_path / "varying.parquet"
    df.to_parquet(varying)
    config = RunConfig(fmax=5.0, stages=STAGES, type_column="vartype")
    with pytest.raises(UsageError, match="'vartype' varies within a source"):
        vsbatch.run(str(varying), tmp_path / "cat", config, ClusterSpec(cluster="none"))
    assert not any((tmp_path / "cat").glob("part=*"))
