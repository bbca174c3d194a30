"""Accounts and sessions in the collector's database (tables of migration ``0004_accounts`` in
``server/auth/migrations/``).

A session is a random token in an HttpOnly cookie; the database keeps only its SHA-256. Each
session has its own CSRF token (synchronizer pattern) that pages hand to their scripts.
Failed logins back off per account, per address and per pair (:mod:`server.auth.throttle`).
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, text

from server.auth.errors import AccountError, LoginError
from server.auth.passwords import (
    DUMMY_HASH,
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    hash_password,
    verify_password,
)
from server.auth.throttle import attempt_succeeded, begin_attempt, throttle_keys
from server.db import Database, open_database

ROLES = ("reviewer", "admin")
SESSION_TTL_S = 12 * 3600.0
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


@dataclass(frozen=True)
class Session:
    account: str
    role: str
    csrf_token: str
    expires_at: float


class Accounts:
    """Accounts and sessions in the (shared) database; safe to share between threads."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time, owns_db: bool = False):
        """:meth:`close` closes ``db`` only with ``owns_db`` (as :meth:`open` sets)."""
        self.db = db
        self.clock = clock
        self._owns_db = owns_db

    @classmethod
    def open(cls, data_dir: Path, clock: Callable[[], float] = time.time, database: str | None = None) -> Accounts:
        """Accounts on a database of their own (its schema must be current): the one at the
        ``database`` URL, else the data directory's."""
        return cls(open_database(Path(data_dir), "current", database), clock, owns_db=True)

    def close(self) -> None:
        if self._owns_db:
            self.db.close()

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
            if conn.execute(text("SELECT 1 FROM accounts WHERE name = :name"), {"name": name}).first():
                raise AccountError(f"account {name!r} exists already (remove it first to replace it)")
            conn.execute(text("INSERT INTO accounts (name, role, password, created_at)"
                              " VALUES (:name, :role, :password, :now)"),
                         {"name": name, "role": role, "password": hashed, "now": now})

    def remove(self, name: str) -> None:
        with self._write() as (conn, _):
            conn.execute(text("DELETE FROM sessions WHERE account = :name"), {"name": name})
            if conn.execute(text("DELETE FROM accounts WHERE name = :name"), {"name": name}).rowcount == 0:
                raise AccountError(f"no account {name!r}")

    def list(self) -> list[dict]:
        with self._write() as (conn, _):
            return [dict(row._mapping)
                    for row in conn.execute(text("SELECT name, role, created_at FROM accounts ORDER BY name"))]

    # --- logins and sessions -------------------------------------------------------------------

    def login(self, name: str, password: str, address: str = "local") -> tuple[str, Session]:
        """A new session (its cookie token and record) for the right password; else :class:`LoginError`.

        ``address``: where the attempt comes from (the client's IP), for :mod:`server.auth.throttle`.
        Unknown names, wrong passwords and throttled attempts fail alike for known and unknown names.
        """
        keys = throttle_keys(name, address)
        with self._write() as (conn, now):
            throttled = begin_attempt(conn, keys, now)
            row = None if throttled else conn.execute(
                text("SELECT role, password FROM accounts WHERE name = :name"), {"name": name}).first()
        if throttled:
            raise LoginError(f"too many failed logins: try again in {math.ceil(throttled.retry_after_s)} s")
        # The scrypt check runs outside any transaction; the attempt is already counted as failed.
        if row is None:
            verify_password(password, DUMMY_HASH)  # same cost as a known name: names do not leak by timing
            raise LoginError("wrong name or password")
        role, stored = row
        if not verify_password(password, stored):
            raise LoginError("wrong name or password")
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._write() as (conn, now):
            attempt_succeeded(conn, keys)
            conn.execute(text("DELETE FROM sessions WHERE expires_at < :now"), {"now": now})
            conn.execute(text("INSERT INTO sessions (token_sha256, account, csrf_token, created_at, expires_at)"
                              " VALUES (:token, :name, :csrf, :now, :expires)"),
                         {"token": _digest(token), "name": name, "csrf": csrf, "now": now,
                          "expires": now + SESSION_TTL_S})
        return token, Session(name, role, csrf, now + SESSION_TTL_S)

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie token, or None."""
        if not token or len(token) > 128:
            return None
        with self._write() as (conn, now):
            row = conn.execute(text(
                "SELECT s.account, a.role, s.csrf_token, s.expires_at FROM sessions s"
                " JOIN accounts a ON a.name = s.account WHERE s.token_sha256 = :token AND s.expires_at > :now"),
                {"token": _digest(token), "now": now}).first()
        return None if row is None else Session(*row)

    def logout(self, token: str) -> None:
        with self._write() as (conn, _):
            conn.execute(text("DELETE FROM sessions WHERE token_sha256 = :token"), {"token": _digest(token)})

    @contextmanager
    def _write(self) -> Iterator[tuple[Connection, float]]:
        with self.db.write("change the accounts") as conn:
            yield conn, self.clock()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
