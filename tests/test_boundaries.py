"""The edge/collector boundary, read from the source: the collector imports only the shared contract.

``edge.contract`` holds what both sides share (wire messages and limits, boxes, the perceptual hash,
MOT files, credentials, the config loader, pinned downloads). Every other edge module is the
agent's, and the collector must not import it, at the top of a module or inside a function; the
contract in turn imports nothing else of the agent, so importing it never pulls the agent in.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[1]

CONTRACT = "edge.contract"
ALLOWED_FOR_COLLECTOR = {
    "edge.logs": "the logging set-up both sides' commands share (one basicConfig call)",
}


def imported_modules(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, dotted module, the import as written) of every absolute import in ``tree``, nested ones included.

    ``from edge import logs`` counts as ``edge.logs``: a name imported from a package may be a
    module, and reading it as one errs on the side of reporting it.
    """
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, f"import {alias.name}") for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.extend((node.lineno, f"{node.module}.{alias.name}", f"from {node.module} import {alias.name}")
                         for alias in node.names)
        elif (isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value, f"{ast.unparse(node.func)}({node.args[0].value!r})"))
    return sorted(found)


def _is_dynamic_import(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id == "__import__") or (
        isinstance(func, ast.Attribute) and func.attr == "import_module")


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def boundary_violations(source: str, filename: str, allowed: dict[str, str], inside: str = "edge") -> list[str]:
    """One line per import of ``inside`` (an edge package) that is neither the contract nor ``allowed``."""
    violations = []
    for line, module, statement in imported_modules(ast.parse(source, filename)):
        if not _within(module, inside) or _within(module, CONTRACT):
            continue
        if any(_within(module, name) for name in allowed):
            continue
        violations.append(f"{filename}:{line}: {statement}")
    return violations


def _violations_under(directory: str, allowed: dict[str, str]) -> list[str]:
    violations = []
    for path in sorted((REPO_DIR / directory).rglob("*.py")):
        relative = path.relative_to(REPO_DIR).as_posix()
        violations += boundary_violations(path.read_text(encoding="utf-8"), relative, allowed)
    return violations


def test_the_collector_imports_only_the_contract_from_the_edge():
    violations = _violations_under("server", ALLOWED_FOR_COLLECTOR)
    assert not violations, (
        f"the collector may import only {CONTRACT} from edge/ (and {', '.join(sorted(ALLOWED_FOR_COLLECTOR))}); "
        "move what both sides need into edge/contract/:\n" + "\n".join(violations))


def test_the_contract_imports_nothing_else_of_the_agent():
    violations = _violations_under("edge/contract", {})
    assert not violations, "edge/contract/ must stand alone:\n" + "\n".join(violations)


def test_the_allowed_exceptions_are_still_used():
    used = {module for path in (REPO_DIR / "server").rglob("*.py")
            for _, module, _ in imported_modules(ast.parse(path.read_text(encoding="utf-8")))}
    stale = [name for name in ALLOWED_FOR_COLLECTOR if not any(_within(module, name) for module in used)]
    assert not stale, f"no collector module imports {stale} any more; remove the exception"


def test_the_stdlib_parts_of_the_contract_import_nothing_heavy():
    # Reading a message, a config or a credentials file must not cost numpy, cv2 or onnxruntime.
    modules = "edge.contract.wire, edge.contract.limits, edge.contract.credentials, edge.contract.config_files, " \
              "edge.contract.downloads, edge.contract.errors"
    code = f"import sys, {modules}; print(sorted({{'numpy', 'cv2', 'onnxruntime'}} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_DIR, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the checker itself --------------------------------------------------------------------------

SAMPLE = '''\
import json
import edge
import edge.models as models
from edge import logs, wire
from edge.contract import wire as shared_wire
from edge.contract.boxes import iou_xyxy
from edge.fetch import fetch_pinned
from edgelabel_other import thing
from . import sibling


def later():
    from edge.selection.core import Candidate
    import importlib
    return importlib.import_module("edge.detection")
'''


def test_the_checker_names_file_line_and_import_of_each_violation():
    assert boundary_violations(SAMPLE, "server/sample.py", {"edge.logs": "logging"}) == [
        "server/sample.py:2: import edge",
        "server/sample.py:3: import edge.models",
        "server/sample.py:4: from edge import wire",
        "server/sample.py:7: from edge.fetch import fetch_pinned",
        "server/sample.py:13: from edge.selection.core import Candidate",
        "server/sample.py:15: importlib.import_module('edge.detection')",
    ]


def test_the_checker_fails_the_test_on_a_violation():
    with pytest.raises(AssertionError, match=r"server/sample\.py:3: import edge\.models"):
        violations = boundary_violations(SAMPLE, "server/sample.py", {})
        assert not violations, "\n".join(violations)
