"""Imports flow one way: engine <- data <- specs and zoo <- train <- report, experiments <- commands, serve.

Every module of the package is read with ``ast`` — imports inside functions count too: a lazy
import is still a dependency — and each import of another scratchnet unit (a top-level module
or package) must point to a unit of the same layer or a lower one, and no two units may reach
each other through their imports (a cycle). A new top-level module or package must be placed in
``LAYERS`` first: adding a room to the house is a decision, not an accident.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "scratchnet"

# Lowest first.
LAYERS: list[set[str]] = [
    {"version", "runtime", "random", "nn", "optim"},  # the engine, and what the package root sets up
    {"data", "terminal", "suggest"},                  # datasets; terminal output and name suggestions
    {"spec", "zoo", "interop", "onnx"},               # model specs, the zoo, model formats
    {"train"},
    {"report", "experiments"},
    {"commands", "cli", "serve", "__main__"},
]
ROOT = "__init__"  # the package root re-exports from everywhere (lazily); nothing imports it but for that


def rank(unit: str) -> int:
    for level, units in enumerate(LAYERS):
        if unit in units:
            return level
    raise AssertionError(f"scratchnet.{unit} is in no layer: place it in LAYERS in tests/{Path(__file__).name}")


def units(package: Path) -> set[str]:
    return ({path.stem for path in package.glob("*.py")} - {ROOT}) | \
        {path.name for path in package.iterdir() if (path / "__init__.py").is_file()}


def imports(path: Path, package: Path) -> set[str]:
    """The units of ``package`` that the file ``path`` imports, anywhere in the file."""
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    here = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name.split(".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            target = base + (node.module.split(".") if node.module else [])
            names = [target] if len(target) > 1 else [target + [alias.name] for alias in node.names]
        else:
            continue
        found |= {name[1] for name in names if len(name) > 1 and name[0] == package.name}
    return found


def dependencies(package: Path) -> dict[str, dict[str, str]]:
    """unit -> {imported unit: the first file that imports it}."""
    known = units(package)
    graph: dict[str, dict[str, str]] = {unit: {} for unit in known}
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        unit = relative.parts[0].removesuffix(".py")
        if unit == ROOT:
            continue
        for target in imports(path, package) & known - {unit}:
            graph[unit].setdefault(target, str(relative))
    return graph


def upward_imports(package: Path) -> list[str]:
    return [f"{where}: scratchnet.{unit} (layer {rank(unit)}) imports scratchnet.{target} (layer {rank(target)})"
            for unit, targets in sorted(dependencies(package).items())
            for target, where in sorted(targets.items()) if rank(target) > rank(unit)]


def cycles(package: Path) -> list[tuple[str, str]]:
    graph = dependencies(package)
    reach = {unit: set(targets) for unit, targets in graph.items()}
    changed = True
    while changed:  # transitive closure; a few dozen units
        changed = False
        for targets in reach.values():
            more = set().union(*(reach[t] for t in targets)) - targets
            if more:
                targets |= more
                changed = True
    return sorted((a, b) for a in reach for b in reach[a] if a < b and a in reach[b])


def test_every_unit_has_a_layer():
    for unit in units(PACKAGE):
        rank(unit)


def test_imports_point_down_or_sideways():
    assert upward_imports(PACKAGE) == []


def test_no_import_cycles_between_units():
    assert cycles(PACKAGE) == []


def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path):
    package = tmp_path / "scratchnet"
    for unit in ("nn", "train", "report"):
        (package / unit).mkdir(parents=True)
        (package / unit / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "nn" / "layer.py").write_text("def f():\n    from ..train import fit\n")  # lazy and upward
    (package / "train" / "__init__.py").write_text("from scratchnet.report import write_report\n")
    (package / "report" / "__init__.py").write_text("from ..train import fit\n")
    assert upward_imports(package) == [
        "nn/layer.py: scratchnet.nn (layer 0) imports scratchnet.train (layer 3)",
        "train/__init__.py: scratchnet.train (layer 3) imports scratchnet.report (layer 4)",
    ]
    assert cycles(package) == [("report", "train")]
