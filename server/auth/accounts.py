"""Accounts and sessions in the collector's database (tables of migration ``0004_accounts``).

A session is a random token in an HttpOnly cookie; the database keeps only its SHA-256. Each
session has its own CSRF token (synchronizer pattern) that pages hand to their scripts.
Failed logins lock an account for :data:`LOCKOUT_S` after :data:`MAX_FAILED_LOGINS` in a row.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from server.auth.errors import AccountError, LoginError
from server.auth.passwords import (
    DUMMY_HASH,
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    hash_password,
    verify_password,
)
from server.errors import StoreError
from server.store import open_second_writer

ROLES = ("reviewer", "admin")
SESSION_TTL_S = 12 * 3600.0
MAX_FAILED_LOGINS = 5
LOCKOUT_S = 60.0
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


@dataclass(frozen=True)
class Session:
    account: str
    role: str
    csrf_token: str
    expires_at: float


class Accounts:
    """Accounts and sessions over one connection of their own (safe to share between threads)."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float] = time.time):
        self.conn = conn
        self.clock = clock
        self._lock = threading.Lock()

    @classmethod
    def open(cls, data_dir: Path, clock: Callable[[], float] = time.time) -> Accounts:
        return cls(open_second_writer(Path(data_dir)), clock)

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> Accounts:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- accounts ------------------------------------------------------------------------------

    def add(self, name: str, role: str, password: str) -> None:
        if not _NAME.fullmatch(name or ""):
            raise AccountError(f"account name {name!r:.80}: expected 1-64 letters, digits or . _ @ -, "
                               "starting with a letter or digit")
        if role not in ROLES:
            raise AccountError(f"role: expected one of {', '.join(ROLES)}, got {role!r}")
        if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
            raise AccountError(f"password: expected {MIN_PASSWORD_CHARS}..{MAX_PASSWORD_CHARS} characters, "
                               f"got {len(password)}")
        hashed = hash_password(password)
        with self._write() as (conn, now):
            if conn.execute("SELECT 1 FROM accounts WHERE name = ?", [name]).fetchone():
                raise AccountError(f"account {name!r} exists already (remove it first to replace it)")
            conn.execute("INSERT INTO accounts (name, role, password, created_at) VALUES (?, ?, ?, ?)",
                         [name, role, hashed, now])

    def remove(self, name: str) -> None:
        with self._write() as (conn, _):
            conn.execute("DELETE FROM sessions WHERE account = ?", [name])
            if conn.execute("DELETE FROM accounts WHERE name = ?", [name]).rowcount == 0:
                raise AccountError(f"no account {name!r}")

    def list(self) -> list[dict]:
        with self._write() as (conn, _):
            return [dict(zip(("name", "role", "created_at"), row))
                    for row in conn.execute("SELECT name, role, created_at FROM accounts ORDER BY name")]

    # --- logins and sessions -------------------------------------------------------------------

    def login(self, name: str, password: str) -> tuple[str, Session]:
        """A new session (its cookie token and record) for the right password; else :class:`LoginError`."""
        with self._write() as (conn, now):
            row = conn.execute("SELECT role, password, failed_logins, locked_until FROM accounts WHERE name = ?",
                               [name]).fetchone()
        if row is None:
            verify_password(password, DUMMY_HASH)  # same cost as a known name: names do not leak by timing
            raise LoginError("wrong name or password")
        role, stored, failed, locked_until = row
        if locked_until > now:
            raise LoginError(f"too many failed logins: try again in {locked_until - now:.0f} s")
        if not verify_password(password, stored):
            with self._write() as (conn, now):
                failed = conn.execute("UPDATE accounts SET failed_logins = failed_logins + 1 WHERE name = ?"
                                      " RETURNING failed_logins", [name]).fetchone()[0]
                if failed >= MAX_FAILED_LOGINS:
                    conn.execute("UPDATE accounts SET failed_logins = 0, locked_until = ? WHERE name = ?",
                                 [now + LOCKOUT_S, name])
            raise LoginError("wrong name or password")
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._write() as (conn, now):
            conn.execute("UPDATE accounts SET failed_logins = 0, locked_until = 0 WHERE name = ?", [name])
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", [now])
            conn.execute("INSERT INTO sessions (token_sha256, account, csrf_token, created_at, expires_at)"
                         " VALUES (?, ?, ?, ?, ?)", [_digest(token), name, csrf, now, now + SESSION_TTL_S])
        return token, Session(name, role, csrf, now + SESSION_TTL_S)

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie token, or None."""
        if not token or len(token) > 128:
            return None
        with self._write() as (conn, now):
            row = conn.execute(
                "SELECT s.account, a.role, s.csrf_token, s.expires_at FROM sessions s"
                " JOIN accounts a ON a.name = s.account WHERE s.token_sha256 = ? AND s.expires_at > ?",
                [_digest(token), now]).fetchone()
        return None if row is None else Session(*row)

    def logout(self, token: str) -> None:
        with self._write() as (conn, _):
            conn.execute("DELETE FROM sessions WHERE token_sha256 = ?", [_digest(token)])

    @contextmanager
    def _write(self) -> Iterator[tuple[sqlite3.Connection, float]]:
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self.conn, self.clock()
                    self.conn.execute("COMMIT")
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
            except sqlite3.ProgrammingError:
                raise
            except sqlite3.Error as exc:
                raise StoreError(f"accounts: {exc}") from exc


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
