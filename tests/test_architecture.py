"""The floor plan, checked: each room imports only rooms below it, no cycles, small modules, one Jinja environment,
and no room but the model's own knows the transfer model by name.

Read with the README's "Architecture" section: the floors below are the map drawn there.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bench"
TEMPLATES = ROOT / "report_templates"

# Lowest first. A module may import its own room and rooms on lower floors; the two rooms of one floor do not
# import each other. `bench/__init__.py` only re-exports `register_model` lazily and is left out.
FLOORS = [
    {"errors"},
    {"config", "protocol"},
    {"data", "models"},
    {"rundir"},
    {"results"},
    {"engine"},
    {"executors"},
    {"runner"},
    {"evidence"},
    {"render", "export"},
    {"cli"},
    {"_entry"},
    {"__main__"},
]
FLOOR = {room: i for i, rooms in enumerate(FLOORS) for room in rooms}
MAX_LINES = 500


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def imports(path: Path, known: set[str], *, module_level: bool = False) -> set[str]:
    """bench modules imported in the file: anywhere (module level or inside functions), or at module level only."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in (tree.body if module_level else ast.walk(tree)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name.startswith("bench."):
                found.add(name)
    return found


MODULES = modules()
KNOWN = set(MODULES)


def test_every_room_has_a_floor():
    rooms = {room(m) for m in MODULES if room(m) is not None}
    assert rooms <= set(FLOOR), f"rooms without a floor in FLOORS: {sorted(rooms - set(FLOOR))}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if room(m) is not None))
def test_imports_only_go_down(module):
    here = room(module)
    wrong = []
    for target in imports(MODULES[module], KNOWN):
        there = room(target)
        if there is None or there == here:
            continue
        if FLOOR[there] >= FLOOR[here]:
            wrong.append(f"{target} (floor {FLOOR[there]} {there!r})")
    assert not wrong, f"{module} (floor {FLOOR[here]} {here!r}) imports upward or sideways: {wrong}"


def test_no_import_cycle():
    graph = {m: imports(p, KNOWN, module_level=True) - {m} for m, p in MODULES.items()}
    # A package's __init__ is imported on the way to its modules; that is not a cycle of ours.
    for m in graph:
        graph[m] = {t for t in graph[m] if not m.startswith(t + ".")}
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_small(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines (at most {MAX_LINES})"


def test_the_transfer_model_is_named_in_its_own_module_and_the_protocol_only():
    allowed = {PACKAGE / "protocol.py", PACKAGE / "models" / "vgg.py"}
    quoted = re.compile(r"""["']vgg16["']""")
    offenders = [str(p.relative_to(ROOT)) for p in MODULES.values() if p not in allowed and quoted.search(p.read_text())]
    assert not offenders, f'the model id "vgg16" is quoted outside its module and the protocol: {offenders}'


def test_no_template_names_vgg():
    offenders = [p.name for p in TEMPLATES.glob("*.j2") if re.search("vgg", p.read_text(), re.IGNORECASE)]
    assert not offenders, f"templates that name VGG16: {offenders}"


def test_one_jinja_environment():
    made = [str(p.relative_to(ROOT)) for p in MODULES.values()
            if re.search(r"\bjinja2\.Environment\(|\bEnvironment\(", p.read_text())]
    assert len(made) == 1, f"Jinja environments are made in {made}; there must be exactly one"


def test_no_private_name_imported_across_modules():
    offenders = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bench"):
                for alias in node.names:
                    # `_` is gettext's conventional name, not a private one.
                    if alias.name.startswith("_") and not alias.name.startswith("__") and alias.name != "_":
                        offenders.append(f"{module}: from {node.module} import {alias.name}")
    assert not offenders, offenders


def test_errors_do_not_depend_on_click():
    tree = ast.parse((PACKAGE / "errors.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert "click" not in imported, "BenchError must not subclass or import click (the CLI maps it)"


def test_the_engine_does_not_import_click():
    for module, path in MODULES.items():
        if room(module) in ("engine", "executors", "runner", "results", "rundir", "data", "models"):
            assert not re.search(r"^\s*(import click|from click)", path.read_text(), re.M), \
                f"{module} imports click; only the CLI may"
