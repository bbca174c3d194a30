"""The collector's packages import each other in one direction only: no two of them import each
other, directly or through others (migrations included: the runner finds them, nobody imports them)."""

import ast
from collections import defaultdict
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server"


def package_of(module: str) -> str:
    return module.split(".")[1]


def imports_between_packages() -> dict[str, dict[str, str]]:
    """package -> imported package -> where (file:line) one such import is."""
    edges: dict[str, dict[str, str]] = defaultdict(dict)
    for path in SERVER.rglob("*.py"):
        here = package_of(".".join(path.relative_to(SERVER.parent).with_suffix("").parts))
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            for module in modules:
                if module.startswith("server.") and package_of(module) != here:
                    edges[here].setdefault(package_of(module), f"{path.relative_to(SERVER.parent)}:{node.lineno}")
    return edges


def cycle_from(edges: dict[str, dict[str, str]], start: str) -> list[str] | None:
    """A path of imports from ``start`` back to itself, if there is one."""
    stack, seen = [(start, [start])], set()
    while stack:
        package, path = stack.pop()
        for imported in edges.get(package, {}):
            if imported == start:
                return path + [start]
            if imported not in seen:
                seen.add(imported)
                stack.append((imported, path + [imported]))
    return None


def test_no_import_cycles_between_collector_packages():
    edges = imports_between_packages()
    for package in sorted(edges):
        cycle = cycle_from(edges, package)
        assert cycle is None, "import cycle " + " -> ".join(
            f"{a} ({edges[a][b]})" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"


def test_the_check_finds_a_cycle():
    edges = {"review": {"consistency": "server/review/queue.py:3"}, "consistency": {"review": "server/x.py:1"}}
    assert cycle_from(edges, "review") == ["review", "consistency", "review"]
    assert cycle_from({"review": {"frames": "a"}}, "review") is None
