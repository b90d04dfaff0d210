"""The house rules the code keeps: small modules and functions, no import circle, rooms apart."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cnnlab"
ROOMS = {"classify", "similarity", "segment", "generate", "localize", "explain"}


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def imports(tree: ast.Module, name: str) -> set[str]:
    """Every cnnlab module `name` imports, at any depth (functions included); `from cnnlab import atomic` counts
    as cnnlab.atomic. The package root `cnnlab` is left out: every module loads it first anyway, and it holds
    only the version and entry points that import on call."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cnnlab"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)  # submodules; names that are not are dropped
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("cnnlab"))
    return out - {name, "cnnlab"}


def test_modules_and_functions_stay_small():
    too_long = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        if len(text.splitlines()) > 300:
            too_long.append(f"{path.name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 60:
                too_long.append(f"{path.name}:{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not too_long, too_long


def test_no_import_circle():
    found = modules()
    graph = {name: {m for m in imports(tree, name) if m in found} for name, tree in found.items()}
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for other in sorted(graph[name]):
            if state.get(other) == 1:
                pytest.fail("import circle: " + " -> ".join([*path[path.index(other):], other]))
            if other not in state:
                visit(other, [*path, other])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_a_room_never_imports_another_room():
    crossings = []
    for name, tree in modules().items():
        parts = name.split(".")
        if len(parts) > 1 and parts[1] in ROOMS:
            for other in imports(tree, name):
                room = other.split(".")[1] if other.count(".") else ""
                if room in ROOMS and room != parts[1]:
                    crossings.append(f"{name} imports {other}")
    assert not crossings, crossings


def test_shared_layers_import_no_room():
    """data/, models/, train/, report/, index/ and serve/ hold no task logic: the service answers from the shared
    image index, and a run's own model comes from its room by the task the run names (import_module), never by
    importing the room."""
    shared = {"data", "models", "train", "report", "index", "serve"}
    crossings = []
    for name, tree in modules().items():
        parts = name.split(".")
        if len(parts) > 1 and parts[1] in shared:
            crossings += [f"{name} imports {other}" for other in imports(tree, name)
                          if other.count(".") and other.split(".")[1] in ROOMS]
    assert not crossings, crossings
