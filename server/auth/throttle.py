"""Slowing down password guessing, atomically, for every node sharing the database.

Each login attempt is counted *before* its password is checked, in one write transaction that
also reads whether the attempt may go ahead. Concurrent attempts therefore cannot all pass the
check before any failure is counted (issue 20, F1); on PostgreSQL the upsert's row lock orders
them, on SQLite the write transaction does. A successful login then takes its count back.

Three counters, each with its own allowance of free failures and exponential back-off after it
(:data:`BASE_DELAY_S` doubling up to :data:`MAX_DELAY_S`), forgotten :data:`FORGET_AFTER_S` after
the last failure:

- ``pair`` (this address, this name): the tight limit a single guesser meets.
- ``address`` (this address, any name): password spraying from one place.
- ``account`` (this name, any address): a distributed attack on one account. Its allowance is
  high, so one attacker cannot keep a known admin out: from one address, the ``pair`` and
  ``address`` counters stop him long before he blocks the account for everyone else.

Unknown names are counted like known ones, so neither the answer nor its timing tells whether an
account exists (F4).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from server.db import row_lock, sql

FREE_FAILURES = {"pair": 5, "address": 20, "account": 100}
"""Failures each counter allows before it starts backing off."""
BASE_DELAY_S = 15.0
"""The first back-off; each further failure doubles it."""
MAX_DELAY_S = 15 * 60.0
FORGET_AFTER_S = 3600.0
"""A counter without failures for this long starts again from zero."""


@dataclass(frozen=True)
class Throttled:
    retry_after_s: float


def throttle_keys(name: str, address: str) -> dict[str, str]:
    """The counters a login attempt of ``name`` from ``address`` touches, by kind."""
    folded = name.casefold()
    return {"pair": f"pair:{address} {folded}", "address": f"address:{address}", "account": f"account:{folded}"}


def delay_after(kind: str, failures: int) -> float:
    """Seconds of back-off once a counter of ``kind`` reached ``failures`` (0 within its allowance)."""
    over = failures - FREE_FAILURES[kind]
    if over < 0:
        return 0.0
    return min(MAX_DELAY_S, BASE_DELAY_S * 2.0 ** min(over, 32))


_ENSURE = text("INSERT INTO login_throttle (key, failures, blocked_until, last_failure_at) VALUES (:key, 0, 0, :now)"
               " ON CONFLICT (key) DO NOTHING")
_READ = "SELECT key, failures, blocked_until, last_failure_at FROM login_throttle WHERE key IN :keys ORDER BY key"
_FAILED = text("UPDATE login_throttle SET failures = :failures, blocked_until = :until, last_failure_at = :now"
               " WHERE key = :key")
_TAKE_BACK = text("UPDATE login_throttle SET failures = failures - 1 WHERE key = :key AND failures > 0")
_FORGET = text("DELETE FROM login_throttle WHERE key = :key")
_PRUNE = text("DELETE FROM login_throttle WHERE last_failure_at < :forget_before AND blocked_until < :now")


def begin_attempt(conn: Connection, keys: dict[str, str], now: float) -> Throttled | None:
    """Count an attempt as failed in advance; :class:`Throttled` if a counter is backing off.

    Call inside a write transaction; a refused attempt changes no counter."""
    forget_before = now - FORGET_AFTER_S
    conn.execute(_PRUNE, {"forget_before": forget_before, "now": now})
    for key in sorted(keys.values()):  # one order for every transaction: no lock-order deadlock on PostgreSQL
        conn.execute(_ENSURE, {"key": key, "now": now})
    rows = {row.key: row for row in conn.execute(sql(_READ + row_lock(conn), "keys"), {"keys": sorted(keys.values())})}
    blocked_until = max(row.blocked_until for row in rows.values())
    if blocked_until > now:
        return Throttled(blocked_until - now)
    for kind, key in keys.items():
        row = rows[key]
        failures = 1 if row.last_failure_at < forget_before else row.failures + 1
        delay = delay_after(kind, failures)
        conn.execute(_FAILED, {"failures": failures, "until": now + delay if delay else 0.0, "now": now, "key": key})
    return None


def attempt_succeeded(conn: Connection, keys: dict[str, str]) -> None:
    """The password was right: this name starts afresh; the address's advance count is taken back."""
    conn.execute(_FORGET, {"key": keys["pair"]})
    conn.execute(_FORGET, {"key": keys["account"]})
    conn.execute(_TAKE_BACK, {"key": keys["address"]})
