"""HTTP handlers run no SQL: the modules of ``server/api/`` call the review queue, the frame state's
owner and the query modules, and never touch the database themselves.

The check reads each module's syntax tree: a call of ``execute``/``executemany``/``exec_driver_sql``
or of ``text``/``sql`` (statement builders), a string holding an SQL statement, or an import of a
database driver or SQLAlchemy fails the test, naming the file and line.
"""

import ast
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HANDLER_MODULES = sorted((REPO_ROOT / "server" / "api").glob("*.py"))

_SQL_CALLS = {"execute", "executemany", "exec_driver_sql", "text", "sql"}
_SQL_STRING = re.compile(r"\b(SELECT\s[\s\S]*\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b")
_DRIVERS = ("sqlite3", "sqlalchemy", "sqlite_utils", "psycopg")


def sql_in(source: str, filename: str) -> list[str]:
    """``file:line: what`` for every piece of SQL in a module's source."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name in _SQL_CALLS:
                found.append(f"{filename}:{node.lineno}: calls {name}()")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _SQL_STRING.search(node.value):
            found.append(f"{filename}:{node.lineno}: SQL string {node.value[:60]!r}")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if module.split(".")[0] in _DRIVERS:
                    found.append(f"{filename}:{node.lineno}: imports {module}")
    return found


def test_http_handler_modules_run_no_sql():
    assert HANDLER_MODULES, "no handler modules found"
    found = [hit for path in HANDLER_MODULES for hit in sql_in(path.read_text(), str(path.relative_to(REPO_ROOT)))]
    assert not found, "SQL in HTTP handler modules (move it to a query module or the frame state):\n" + "\n".join(found)


def test_the_check_finds_sql_and_names_the_line():
    handler = '''
import sqlite3
from sqlalchemy import text

async def route(request):
    """Lists frames."""
    rows = db.execute("SELECT id FROM frames WHERE status = 'pending'")
    conn.execute(text("UPDATE frames SET status = 'accepted' WHERE id = :id"), {"id": 1})
    query = "DELETE FROM sessions"
    return rows
'''
    found = sql_in(handler, "server/api/example.py")
    assert "server/api/example.py:2: imports sqlite3" in found
    assert "server/api/example.py:3: imports sqlalchemy" in found
    assert "server/api/example.py:7: calls execute()" in found
    assert any(hit.startswith("server/api/example.py:7: SQL string") for hit in found)
    assert "server/api/example.py:8: calls text()" in found
    assert any(hit.startswith("server/api/example.py:9: SQL string 'DELETE FROM") for hit in found)
    assert sql_in('async def route(request):\n    """Select a frame from the queue."""\n    return queue.claim("a")\n',
                  "server/api/clean.py") == []
