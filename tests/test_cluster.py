"""Job files and cluster kinds: validation, generated Slurm scripts, Kubernetes specs, and a run
on a scheduler and workers started as separate processes with the ``dask`` command line."""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

import vsbatch
from tests.conftest import FIXTURES
from tests.helpers import catalog_frame, dask_cli_cluster, run_cli
from vsbatch.cluster import (
    ClusterSpec,
    DaskRunner,
    KubernetesOptions,
    SlurmOptions,
    tune_malloc,
)
from vsbatch.config import RunConfig
from vsbatch.errors import UsageError
from vsbatch.jobs import load_job

REPO = Path(__file__).parent.parent


def write_job(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return path


def test_shipped_job_files_validate() -> None:
    for path in sorted((REPO / "jobs").glob("*.yaml")):
        job = load_job(path)
        assert job.input and job.output and job.mode in ("new", "resume", "overwrite", "update")
    slurm = load_job(REPO / "jobs" / "slurm-survey.yaml").cluster
    assert slurm.cluster == "slurm" and slurm.slurm.gpu_jobs == 1 and slurm.slurm.cores == 8


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input: a\noutput: b\nbogus: 1\n", "unknown key 'bogus'"),
        ("input: a\n", "'output' must be given"),
        ("input: a\noutput: b\nmode: sometimes\n", "mode must be one of new, resume"),
        ("input: a\noutput: b\nconfig: {fmax: fast}\n", "config.fmax: expected float, got 'fast'"),
        ("input: a\noutput: b\nconfig: {stages: [stats, nope]}\n", "unknown stages ['nope']"),
        (
            "input: a\noutput: b\ncluster: {slurm: {cores: two}}\n",
            "cluster.slurm.cores: expected int",
        ),
        ("input: a\noutput: b\ncluster: {kubernetes: {gpu: 1}}\n", "unknown key 'gpu'"),
        ("input: [a\n", "not valid YAML"),
    ],
)
def test_job_file_errors_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write_job(tmp_path, text)
    with pytest.raises(UsageError) as info:
        load_job(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_run_from_a_job_file_equals_the_command_line_run(capsys, tmp_path: Path) -> None:
    src = FIXTURES / "asas_i_12.parquet"
    job = write_job(
        tmp_path,
        f"roots: [{FIXTURES}, {tmp_path}]\ninput: {src}\noutput: {tmp_path / 'a'}\n"
        "config: {fmax: 5.0, stages: [stats, period]}\n"
        "cluster: {kind: none}\n",
    )
    assert run_cli(capsys, "run", "--job", job)[0] == 0
    code, _, err = run_cli(
        capsys,
        "run",
        src,
        "-o",
        tmp_path / "b",
        "--no-cluster",
        "--fmax",
        "5",
        "--stages",
        "stats,period",
    )
    assert code == 0, err
    pd.testing.assert_frame_equal(catalog_frame(tmp_path / "a"), catalog_frame(tmp_path / "b"))
    code, _, err = run_cli(capsys, "run", "--job", job)  # mode new: never clobbers
    assert code == 2 and "already holds a catalog" in err


def test_slurm_job_scripts_carry_gpu_and_lifetime_options() -> None:
    pytest.importorskip("dask_jobqueue")
    from vsbatch.cluster import slurm_job_scripts

    spec = ClusterSpec(
        cluster="slurm",
        slurm=SlurmOptions(
            queue="debug",
            account="astro",
            cores=4,
            memory="16GiB",
            walltime="02:00:00",
            lifetime="1h50m",
            lifetime_stagger="4m",
            gpu_jobs=1,
            gpus_per_job=2,
        ),
    )
    scripts = slurm_job_scripts(spec)
    for script in scripts.values():
        assert "#SBATCH -p debug" in script and "#SBATCH -A astro" in script
        assert "#SBATCH -t 02:00:00" in script
        assert "--lifetime 1h50m --lifetime-stagger 4m" in script
        assert "export OMP_NUM_THREADS=1" in script
    assert "#SBATCH --gres=gpu:2" in scripts["gpu"] and "--resources GPU=2" in scripts["gpu"]
    assert "--gres" not in scripts["cpu"] and "--resources" not in scripts["cpu"]
    assert "--nworkers 4" in scripts["cpu"] or "--nprocs 4" in scripts["cpu"]


def test_kubernetes_specs_have_cpu_and_gpu_worker_groups() -> None:
    pytest.importorskip("dask_kubernetes")
    from vsbatch.cluster import kubernetes_cluster_spec, kubernetes_gpu_worker_group

    spec = ClusterSpec(
        cluster="kubernetes",
        kubernetes=KubernetesOptions(
            name="survey",
            namespace="astro",
            image="vsbatch:0.1.0",
            workers=3,
            gpu_workers=2,
            gpus_per_worker=1,
        ),
    )
    cluster = kubernetes_cluster_spec(spec)
    assert cluster["kind"] == "DaskCluster" and cluster["metadata"]["namespace"] == "astro"
    worker = cluster["spec"]["worker"]
    assert worker["replicas"] == 3
    assert worker["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "1"
    gpu = kubernetes_gpu_worker_group(spec)
    container = gpu["spec"]["worker"]["spec"]["containers"][0]
    assert gpu["kind"] == "DaskWorkerGroup" and gpu["spec"]["cluster"] == "survey"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["args"][-2:] == ["--resources", "GPU=1"]


@pytest.mark.slow
def test_run_on_scheduler_and_workers_started_with_the_dask_cli(tmp_path: Path) -> None:
    config = RunConfig(partition_epochs=800, fmax=5.0)
    src = str(FIXTURES / "asas_i_12.parquet")
    with dask_cli_cluster([[], []]) as address:
        remote = vsbatch.run(src, tmp_path / "remote", config, ClusterSpec(cluster=address))
    local = vsbatch.run(src, tmp_path / "local", config, ClusterSpec(workers=2))
    assert remote.partitions > 1
    pd.testing.assert_frame_equal(catalog_frame(remote.catalog), catalog_frame(local.catalog))


@pytest.mark.slow
def test_run_with_workers_as_real_slurm_jobs(tmp_path: Path) -> None:
    pytest.importorskip("dask_jobqueue")
    from tests.slurm_node import slurm_node

    config = RunConfig(partition_epochs=800, fmax=5.0)
    src = str(FIXTURES / "asas_i_12.parquet")
    with slurm_node(tmp_path) as partition:
        spec = ClusterSpec(
            cluster="slurm",
            slurm=SlurmOptions(
                queue=partition,
                cores=1,
                memory="2GiB",
                walltime="00:20:00",
                jobs=2,
                lifetime=None,
                lifetime_stagger=None,
                log_directory=str(tmp_path / "slurm-logs"),
            ),
        )
        on_slurm = vsbatch.run(src, tmp_path / "on-slurm", config, spec)
    local = vsbatch.run(src, tmp_path / "local", config, ClusterSpec(workers=2))
    assert on_slurm.partitions > 1
    pd.testing.assert_frame_equal(catalog_frame(on_slurm.catalog), catalog_frame(local.catalog))
    assert list((tmp_path / "slurm-logs").glob("*.err")), "workers ran as Slurm jobs"


def _self_signed(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a loopback certificate signed by it (openssl)."""
    ca_key, ca, key, csr, cert = (
        folder / n for n in ("ca.key", "ca.pem", "node.key", "node.csr", "node.pem")
    )
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=vsbatch-test-ca",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
    )
    run(
        "openssl",
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        str(key),
        "-out",
        str(csr),
    )
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run(
        "openssl",
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        str(cert),
        "-extfile",
        str(ext),
    )
    return ca, cert, key


@pytest.mark.slow
def test_tls_between_client_scheduler_and_workers_from_a_job_file(capsys, tmp_path: Path) -> None:
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make the self-signed certificates")
    from distributed import Client, LocalCluster

    from vsbatch.cluster import security

    ca, cert, key = _self_signed(tmp_path)
    spec = ClusterSpec(tls_ca_file=str(ca), tls_cert=str(cert), tls_key=str(key))
    sec = security(spec)
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        protocol="tls://",
        security=sec,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        with pytest.raises((OSError, TimeoutError, TypeError)):  # no certificate: refused
            Client(address, timeout=5)
        src = FIXTURES / "asas_i_12.parquet"
        job = write_job(
            tmp_path,
            f"roots: [{FIXTURES}, {tmp_path}]\ninput: {src}\noutput: {tmp_path / 'cat'}\n"
            "config: {stages: [stats]}\n"
            f"cluster: {{kind: '{address}', tls_ca_file: {ca}, tls_cert: {cert}, "
            f"tls_key: {key}}}\n",
        )
        code, out, err = run_cli(capsys, "run", "--job", job)
    assert code == 0, err
    assert "12 light curves in the catalog" in out


def test_every_dask_runner_tunes_malloc_on_its_workers() -> None:
    """The setup callback reaches current and future workers; mallopt applies on glibc."""

    class Client:
        callbacks: ClassVar[list] = []

        def register_worker_callbacks(self, setup):
            self.callbacks.append(setup)

        def scheduler_info(self):
            return {"workers": {}}

    client = Client()
    DaskRunner(client)
    assert client.callbacks == [tune_malloc]
    assert tune_malloc() is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
