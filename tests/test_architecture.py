"""The package's layers, enforced from its imports (docs/architecture.md explains them).

Every ``import`` counts, also those inside functions: a lazy import of a higher layer is the
same dependency, only hidden.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vsbatch"

# Lowest first. A module may import from its own layer and the ones before it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("vsbatch._version", "vsbatch._numba_cache", "vsbatch.errors",
                    "vsbatch.schema", "vsbatch.failures", "vsbatch.config", "vsbatch.partitioning",
                    "vsbatch.schemas", "vsbatch.sample_data")),
    ("kernels", ("vsbatch.kernels",)),
    ("inputs and representations", ("vsbatch.io", "vsbatch.represent", "vsbatch.period_backends")),
    ("models", ("vsbatch.models",)),
    ("stages", ("vsbatch.stages",)),
    ("execution", ("vsbatch.cluster", "vsbatch.pipeline", "vsbatch.jobs")),
    ("training and query", ("vsbatch.training", "vsbatch.query")),
    ("presentation", ("vsbatch.plotting", "vsbatch.report", "vsbatch.inspection")),
    ("interface", ("vsbatch.cli",)),
)  # fmt: skip
DISTRIBUTED_ALLOWED = ("vsbatch.cluster", "vsbatch.pipeline")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, module: str) -> set[str]:
    """Absolute names of every module ``path`` imports, at any depth of the file."""
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _layer(module: str) -> int | None:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


def _internal_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {m for m in _imports(path, name) if m in modules and m != name}
        for name, path in modules.items()
    }


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in _modules() if m != "vsbatch" and _layer(m) is None]
    assert not unplaced, f"modules outside every layer (add them to LAYERS and docs): {unplaced}"


def test_no_module_imports_from_a_higher_layer() -> None:
    upward = []
    for module, imported in _internal_graph().items():
        if module == "vsbatch":  # the public API facade sits above everything
            continue
        for target in imported:
            if target == "vsbatch":
                upward.append(f"{module} -> vsbatch (the API facade)")
            elif None not in (_layer(module), _layer(target)) and _layer(target) > _layer(module):
                upward.append(f"{module} ({LAYERS[_layer(module)][0]}) -> {target} "
                              f"({LAYERS[_layer(target)][0]})")  # fmt: skip
    assert not upward, "imports that run up the layers:\n" + "\n".join(sorted(upward))


def test_no_import_cycles() -> None:
    graph = _internal_graph()
    # A package's __init__ importing its own submodules is how packages work, not a cycle.
    edges = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_only_the_execution_layer_imports_distributed() -> None:
    offenders = [
        m for m, p in _modules().items()
        if any(i == "distributed" or i.startswith("distributed.") for i in _imports(p, m))
        and not any(m == a or m.startswith(a + ".") for a in DISTRIBUTED_ALLOWED)
    ]  # fmt: skip
    assert not offenders


@pytest.mark.parametrize("needle", ["../shared", "shared/data", "shared/seeds"])
def test_the_installed_package_names_no_path_into_shared(needle: str) -> None:
    hits = [str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py")
            if needle in p.read_text()]  # fmt: skip
    assert not hits, f"{needle!r} in {hits}"


def test_no_function_over_80_lines_outside_numba_kernels() -> None:
    long = []
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            jitted = any("njit" in ast.unparse(d) or "jit(" in ast.unparse(d)
                         for d in node.decorator_list)  # fmt: skip
            length = node.end_lineno - node.lineno + 1
            if length > 80 and not jitted:
                long.append(f"{module}.{node.name}: {length} lines")
    assert not long, "functions over 80 lines:\n" + "\n".join(long)
