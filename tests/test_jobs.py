"""Declared roots: a job file cannot make vsbatch read or write outside them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.helpers import run_cli
from vsbatch.errors import UsageError
from vsbatch.jobs import load_job
from vsbatch.models.artifacts import CARD_FILE, ArtifactError, resolve_artifact


def job(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobs" / "job.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def area(tmp_path: Path) -> Path:
    """A data area with an input file, and a symlink inside it that points outside."""
    root = tmp_path / "area"
    (root / "in").mkdir(parents=True)
    (root / "in" / "lc.parquet").write_bytes((FIXTURES / "asas_i_12.parquet").read_bytes())
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", root / "escape")
    return root


def test_paths_inside_the_roots_are_accepted(tmp_path: Path, area: Path) -> None:
    j = load_job(job(tmp_path, f"roots: [{area}]\ninput: {area}/in/*.parquet\n"
                                f"output: {area}/out/cat\n"))  # fmt: skip
    assert j.roots == (str(area),) and j.output == f"{area}/out/cat"
    url = load_job(
        job(
            tmp_path,
            "roots: [s3://bucket/survey/]\n"
            "input: s3://bucket/survey/lc/\noutput: s3://bucket/survey/cat/\n",
        )
    )
    assert url.input.startswith("s3://bucket/survey/")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("output", "{area}/../stolen"),  # traversal with ..
        ("output", "{area}/escape/cat"),  # a symlink inside the root that points outside
        ("input", "/etc/passwd"),  # an absolute path elsewhere
        ("input", "s3://other-bucket/lc/"),  # a URL under no root
        ("input", "{area}/../*.parquet"),  # a glob whose fixed part leaves the root
    ],
)
def test_paths_outside_the_roots_are_refused(
    tmp_path: Path, area: Path, key: str, value: str
) -> None:
    values = {
        "input": f"{area}/in/lc.parquet",
        "output": f"{area}/out",
        key: value.format(area=area),
    }
    path = job(tmp_path, f"roots: [{area}, s3://bucket/]\ninput: {values['input']}\n"
                         f"output: {values['output']}\n")  # fmt: skip
    with pytest.raises(UsageError, match=rf"{path}: {key}: .* outside the declared roots"):
        load_job(path)


def test_models_tls_and_scheduler_files_are_checked_too(tmp_path: Path, area: Path) -> None:
    base = f"roots: [{area}]\ninput: {area}/in/lc.parquet\noutput: {area}/out\n"
    for extra, key in [
        ("config: {models: [../../models/evil]}\n", "config.models[0]"),
        ("cluster: {tls_ca_file: /root/ca.pem, tls_cert: /root/c.pem, tls_key: /root/k.pem}\n",
         "cluster.tls_ca_file"),
        ("cluster: {kind: 'scheduler-file:/tmp/x.json'}\n", "cluster.kind"),
    ]:  # fmt: skip
        with pytest.raises(UsageError, match=rf"{re.escape(key)}: .* outside the declared roots"):
            load_job(job(tmp_path, base + extra))
    # a shipped model is named, not a path: allowed
    assert load_job(job(tmp_path, base + "config: {models: [nnfap]}\n")).config.models == ("nnfap",)


def test_default_root_is_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_job(job(tmp_path, "input: a.parquet\noutput: cat\n")).roots == (str(tmp_path),)
    with pytest.raises(UsageError, match="outside the declared roots"):
        load_job(job(tmp_path, "input: a.parquet\noutput: ../cat\n"))


def test_refused_before_anything_is_written(tmp_path: Path, area: Path, capsys) -> None:
    path = job(tmp_path, f"roots: [{area}]\ninput: {area}/in/lc.parquet\n"
                         f"output: {area}/escape/cat\ncluster: {{kind: none}}\n")  # fmt: skip
    code, _, err = run_cli(capsys, "run", "--job", path)
    assert code == 2 and "outside the declared roots" in err
    assert list((tmp_path / "elsewhere").iterdir()) == []


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside the data area that a hostile job file tries to reach."""
    (tmp_path / "outside").mkdir()
    target = tmp_path / "outside" / "secret.parquet"
    target.write_bytes((FIXTURES / "asas_i_12.parquet").read_bytes())
    return target


@pytest.mark.parametrize(
    ("roots", "key", "value"),
    [
        ("{area}", "input", "{area}/*/../../outside/secret.parquet"),  # glob, then ..
        ("{area}", "output", "{area}/*/../../outside/cat"),
        ("file://{area}", "input", "file://{area}/in/../../outside/secret.parquet"),
        ("{area}", "input", "file://{area}/../outside/secret.parquet"),
        ("s3://bucket/survey", "input", "s3://bucket/survey/../private/lc.parquet"),
        ("{area}", "input", "{area}/in"),  # a folder holding a link to a file outside
    ],
)
def test_every_reached_path_is_checked(
    tmp_path: Path, area: Path, secret: Path, roots: str, key: str, value: str
) -> None:
    """Issue 20 item 1: the check is on every resolved path, not the text before a ``*``."""
    os.symlink(secret, area / "in" / "link.parquet")
    values = {"input": f"{area}/in/lc.parquet", "output": f"{area}/out", key: value}
    values = {k: v.format(area=area) for k, v in values.items()}
    path = job(tmp_path, f"roots: [{roots.format(area=area)}]\ninput: {values['input']}\n"
                         f"output: {values['output']}\n")  # fmt: skip
    with pytest.raises(UsageError, match=rf"{key}: .* outside the declared roots"):
        load_job(path)


def test_file_urls_inside_the_roots_are_accepted(tmp_path: Path, area: Path) -> None:
    j = load_job(job(tmp_path, f"roots: [file://{area}]\ninput: file://{area}/in/lc.parquet\n"
                               f"output: {area}/out\n"))  # fmt: skip
    assert j.input == f"file://{area}/in/lc.parquet"


def test_a_bare_model_name_never_loads_from_the_working_directory(
    tmp_path: Path, monkeypatch
) -> None:
    """Issue 20 item 1: ``models: [evilmodel]`` must not pick up ``./evilmodel``."""
    (tmp_path / "evilmodel").mkdir()
    (tmp_path / "evilmodel" / CARD_FILE).write_text("{}")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ArtifactError, match="no model artifact 'evilmodel'"):
        resolve_artifact("evilmodel")
    assert resolve_artifact("./evilmodel") == Path("evilmodel")
