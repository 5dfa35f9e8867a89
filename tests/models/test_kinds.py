"""The model kinds: every layer's table covers exactly the kinds schemas/models.json declares."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources

import pytest

from vsbatch.errors import UsageError
from vsbatch.models.kinds import KINDS, available_kinds, model_kind, resumable_kinds
from vsbatch.models.networks import NETWORKS, build_network
from vsbatch.stages.inference import INFERENCE
from vsbatch.training.kinds import TRAINING


def _declared_kinds() -> set[str]:
    text = resources.files("vsbatch.schemas").joinpath("models.json").read_text("utf-8")
    return set(json.loads(text)["kinds"])


@pytest.mark.parametrize(
    "table",
    [KINDS, NETWORKS, INFERENCE, TRAINING],
    ids=["models.kinds", "models.networks", "stages.inference", "training.kinds"],
)
def test_every_registry_covers_exactly_the_declared_kinds(table: dict) -> None:
    assert set(table) == _declared_kinds()
    assert set(available_kinds()) == _declared_kinds()


def test_an_unknown_kind_is_a_usage_error_listing_the_choices() -> None:
    with pytest.raises(UsageError, match="unknown model kind 'gru'") as info:
        model_kind("gru")
    assert all(name in str(info.value) for name in available_kinds())
    with pytest.raises(UsageError, match="unknown model kind"):
        build_network("gru", {})


def test_only_the_blazhko_kind_resumes() -> None:
    assert resumable_kinds() == ["blazhko"]
    assert model_kind("blazhko").resumable and not model_kind("nnfap").resumable


def test_kinds_module_imports_no_torch() -> None:
    """The command line lists the kinds on every invocation."""
    code = "import sys, vsbatch.models.kinds; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
