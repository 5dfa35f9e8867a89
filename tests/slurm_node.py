"""A real single-node Slurm for the tests (Debian's slurm-wlm and munge), after
../shared/notes/slurm-single-node.md: installed when missing, started in a scratch folder,
stopped afterwards. Skips with the reason when it cannot be installed or started."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SLURM_CONF = Path("/etc/slurm/slurm.conf")


def _run(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _ensure_installed() -> None:
    if shutil.which("slurmctld") and shutil.which("munged"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("Slurm is not installed and apt-get as root is not available here")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    update = subprocess.run(
        ["apt-get", "update", "-qq"], capture_output=True, env=env, timeout=600, check=False
    )
    install = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "slurm-wlm", "munge"],
        capture_output=True,
        env=env,
        timeout=900,
        check=False,
    )
    if install.returncode != 0 or not shutil.which("slurmctld"):
        pytest.skip(
            f"could not install slurm-wlm/munge: {update.stderr[-300:]!r} {install.stderr[-300:]!r}"
        )


@contextmanager
def slurm_node(scratch: Path) -> Iterator[str]:
    """Start munged, slurmctld and slurmd; yields the partition name."""
    _ensure_installed()
    host = socket.gethostname()
    for folder in ("/etc/munge", "/run/munge", "/var/log/munge", "/var/lib/munge"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.chown(folder, "munge", "munge")
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        key.write_bytes(os.urandom(1024))
    shutil.chown(key, "munge", "munge")
    key.chmod(0o400)
    state = scratch / "slurm"
    (state / "ctld").mkdir(parents=True, exist_ok=True)
    (state / "d").mkdir(parents=True, exist_ok=True)
    mem_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8)
    SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SLURM_CONF.write_text(
        f"ClusterName=vsbatchtest\nSlurmctldHost={host}\nSlurmUser=root\n"
        f"StateSaveLocation={state / 'ctld'}\nSlurmdSpoolDir={state / 'd'}\n"
        "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
        "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core_Memory\nReturnToService=2\n"
        f"SlurmctldPidFile={state / 'ctld.pid'}\nSlurmdPidFile={state / 'd.pid'}\n"
        f"SlurmctldLogFile={state / 'ctld.log'}\nSlurmdLogFile={state / 'd.log'}\n"
        f"NodeName={host} CPUs={os.cpu_count()} RealMemory={mem_mb} State=UNKNOWN\n"
        f"PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP\n"
    )
    munged = subprocess.run(
        ["runuser", "-u", "munge", "--", "/usr/sbin/munged", "--force"],
        capture_output=True,
        text=True,
        check=False,
    )
    if munged.returncode != 0 and "already running" not in munged.stderr:
        pytest.skip(f"munged did not start: {munged.stderr[-300:]}")
    daemons = [
        subprocess.Popen([d, "-D"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for d in ("/usr/sbin/slurmctld", "/usr/sbin/slurmd")
    ]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            info = _run(["sinfo", "-h", "-o", "%t"], timeout=30)
            if info.returncode == 0 and info.stdout.strip() in ("idle", "mix", "alloc"):
                break
            time.sleep(1)
        else:
            log = (state / "ctld.log").read_text()[-500:] if (state / "ctld.log").exists() else ""
            pytest.skip(f"Slurm node never became idle: {info.stdout!r} {info.stderr!r} {log}")
        yield "test"
    finally:
        _run(["scancel", "--user", "root"], timeout=30)
        for d in daemons:
            d.terminate()
        for d in daemons:
            try:
                d.wait(timeout=30)
            except subprocess.TimeoutExpired:
                d.kill()
