"""The shape of the code: dependencies point one way, and no import cycle.

Run alone with `.venv/bin/python -m pytest tests/test_architecture.py -q`; it reads the
source (imports made at module level, not those under `if TYPE_CHECKING:`), imports nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "chatserver"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
#: Compiled modules (C, typed by a stub beside them): they import nothing of chatserver.
COMPILED = {_module_name(p) for p in PACKAGE.rglob("*.pyi")}


def _runtime_imports(path: Path) -> set[str]:
    """chatserver modules imported when `path` runs (TYPE_CHECKING blocks left out)."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("chatserver"))
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("chatserver"):
                for alias in node.names:  # `from pkg import submodule` depends on the submodule only
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in MODULES or sub in COMPILED else node.module)
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(node.orelse)

    visit(tree.body)  # module level only: imports inside functions are deliberate and lazy
    return found


def _graph() -> dict[str, set[str]]:
    return {
        name: {m for m in _runtime_imports(path) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }


def test_no_import_cycle_in_chatserver():
    """No chain of module-level imports leads from a module back to itself."""
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module)


def test_lower_layers_never_import_the_hub_or_the_app():
    """Moderation, delivery, brokers, filters, audit and the stores are handed what they need."""
    graph = _graph()
    upper = {"chatserver.hub", "chatserver.app", "chatserver.cli"}
    lower = ("chatserver.moderation", "chatserver.delivery", "chatserver.brokers", "chatserver.filters")
    lower += ("chatserver.audit", "chatserver.store", "chatserver.sending", "chatserver.membership")
    for module, imports in graph.items():
        if module.startswith(lower):
            assert not imports & upper, f"{module} imports {sorted(imports & upper)}"


def test_filters_do_no_io():
    """The filter package imports no web framework, broker or audit store (filters are pure)."""
    for path in (PACKAGE / "filters").rglob("*.py"):
        source = path.read_text()
        for banned in ("starlette", "redis", "aiosqlite", "chatserver.audit", "chatserver.brokers"):
            assert f"import {banned}" not in source and f"from {banned}" not in source, (
                f"{path.name}: {banned}"
            )


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
#: A function may be longer when a comment in it says why (e.g. the composition root, a hot loop).
LONG_ON_PURPOSE = "# Long on purpose:"


def test_modules_and_functions_stay_small():
    """No module over 400 lines; no function over 60 lines unless a comment in it says why."""
    too_long = []
    for name, path in sorted(MODULES.items()):
        source = path.read_text()
        lines = source.count("\n")
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{name}: {lines} lines")
        body = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                text = "\n".join(body[node.lineno - 1 : node.end_lineno])
                if length > MAX_FUNCTION_LINES and LONG_ON_PURPOSE not in text:
                    too_long.append(f"{name}.{node.name}: {length} lines")
    assert not too_long, "\n".join(too_long)
