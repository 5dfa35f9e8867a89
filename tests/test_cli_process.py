"""What the ``vsbatch`` command says when a user stops it or cuts its output short.

These run the installed command in a real subprocess: a closed pipe and Ctrl-C are things that
happen to a process, not to a function call.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import SAMPLE_CATALOG

COMMAND = [sys.executable, "-m", "vsbatch.cli"]


def test_a_reader_closing_the_pipe_is_not_an_error() -> None:
    """``vsbatch schema | head -1``: the reader goes away before the output is written."""
    proc = subprocess.Popen([*COMMAND, "schema"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before a single byte is read
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert "BrokenPipe" not in stderr and "internal error" not in stderr, stderr


def test_ctrl_c_during_a_run_names_the_resume_option(tmp_path: Path) -> None:
    out = tmp_path / "catalog"
    proc = subprocess.Popen(
        [*COMMAND, "run", str(SAMPLE_CATALOG), "-o", str(out), "--no-cluster"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not (out / "_staging").exists() and proc.poll() is None:  # the run has started
        assert time.monotonic() < deadline, "the run never created its staging folder"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr.decode()
    assert "interrupted; rerun it with --resume to continue" in stderr.decode()


def test_model_commands_without_torch_name_the_extra(tmp_path: Path) -> None:
    """The base install has no PyTorch: the commands that need it exit 2 with the install line."""
    no_torch = (
        "import sys; sys.modules['torch'] = None; from vsbatch.cli import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    commands = {
        "--model": ["run", str(SAMPLE_CATALOG), "-o", str(tmp_path / "c"), "--model", "nnfap"],
        "vsbatch train": ["train", "nnfap", "--data", str(SAMPLE_CATALOG), "-o", str(tmp_path)],
        "vsbatch evaluate": ["evaluate", "nnfap", "--data", str(SAMPLE_CATALOG), "-o", "x"],
    }
    for what, argv in commands.items():
        done = subprocess.run([sys.executable, "-c", no_torch, *argv], capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert done.returncode == 2, (what, done.stderr)
        assert f"{what} needs PyTorch" in done.stderr and "vsbatch[models]" in done.stderr
        assert not (tmp_path / "c").exists()
