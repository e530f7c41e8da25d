"""The package's layers (ARCHITECTURE.md): who may import whom, read off the source of every module.

base (errors, options, targets, rng, files, imaging, markup, version) ◄── model ◄── rendering ◄── analysis
◄── reports ◄── cli, with the public face (``featviz/__init__.py``) on top. A lower layer never
imports a higher one; one report package never imports another (they share ``reports.frame`` and
``reports.pagekit``); no module imports another's private name; and there is no import circle,
counting imports inside functions and type-only ones too.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import featviz

ROOT = Path(featviz.__file__).parent
LAYERS = {"model": 1, "rendering": 2, "analysis": 3, "reports": 4}
SHARED_REPORT_MODULES = {"featviz.reports", "featviz.reports.frame", "featviz.reports.pagekit"}


def _modules() -> dict[str, Path]:
    found = {"featviz": ROOT / "__init__.py"}
    for info in pkgutil.walk_packages(featviz.__path__, "featviz."):
        spec = importlib.util.find_spec(info.name)
        assert spec is not None and spec.origin is not None
        found[info.name] = Path(spec.origin)
    return found


MODULES = _modules()


def _layer(module: str) -> int:
    parts = module.split(".")
    if module == "featviz" or module in ("featviz.__main__", "featviz.cli"):
        return 5
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def _report_package(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] == "reports" and module not in SHARED_REPORT_MODULES:
        return parts[2]
    return None


def _imports(module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in the module's source."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                (alias.name, [], node.lineno) for alias in node.names if alias.name.startswith("featviz")
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("featviz"):
            assert node.level == 0, f"{module}:{node.lineno}: relative import"
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in MODULES:
                    found.append((submodule, [], node.lineno))
                else:
                    found.append((node.module, [alias.name], node.lineno))  # type: ignore[list-item]
    return found


def test_every_module_is_found_and_imports() -> None:
    assert len(MODULES) > 40
    for name in MODULES:
        if name != "featviz.__main__":
            importlib.import_module(name)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_lower_layer_never_imports_a_higher_one(module: str) -> None:
    upward = [
        f"line {line}: {target}"
        for target, _, line in _imports(module)
        if target in MODULES and _layer(target) > _layer(module)
    ]
    assert not upward, f"{module} (layer {_layer(module)}) imports a higher layer: {upward}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _report_package(m)))
def test_reports_never_import_each_other(module: str) -> None:
    own = _report_package(module)
    others = [
        f"line {line}: {target}"
        for target, _, line in _imports(module)
        if _report_package(target) not in (None, own)
    ]
    assert not others, f"{module} imports another report: {others}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_another_modules_private_name(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    private = [
        f"line {line}: {target}.{name}"
        for target, names, line in _imports(module)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    # a featviz module bound to a name, then one of its private names used: ``frame._x``
    bound = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("featviz")
        for alias in node.names
        if f"{node.module}.{alias.name}" in MODULES
    }
    private += [
        f"line {node.lineno}: {node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in bound
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
    ]
    assert not private, f"{module} uses private names of other modules: {private}"


def test_there_is_no_import_circle() -> None:
    graph = {
        module: {t for t, _, _ in _imports(module) if t in MODULES and t != module} for module in MODULES
    }
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circle = path[path.index(target) :] + [target]
                pytest.fail("import circle: " + " -> ".join(circle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
