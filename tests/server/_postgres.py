"""A throwaway PostgreSQL cluster for the tests: Debian's ``postgresql`` binaries, initdb/pg_ctl into a
temporary folder, listening on 127.0.0.1 on a free port, stopped at the end of the session.

Each test gets a fresh, empty database (``CREATE DATABASE``), so tests never see each other's rows.
The cluster runs as the ``postgres`` user when the tests run as root (initdb refuses root). If
the binaries are missing the tests fail with a line saying what to install: CI installs them
(``.ci/run``), and a green run that skipped PostgreSQL would prove nothing about it.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): "
                    "install Debian's 'postgresql' package (apt-get install postgresql), as .ci/run does")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresCluster:
    """One running cluster; :meth:`new_database` hands out URLs of fresh databases."""

    def __init__(self, durable: bool = False):
        """``durable``: keep PostgreSQL's fsync and synchronous commit on (benchmarks); tests turn them off."""
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="edgelabel-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._numbers = itertools.count(1)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-instructions")
        # Durability off unless asked: a test cluster is thrown away, and fsync would dominate the suite's time.
        self._options = (f"-c port={self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
                         " -c max_connections=200")
        if not durable:
            self._options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self.start_server()

    def start_server(self) -> None:
        """Start the server (again) on the same port and data, and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", self._options, "-w", "start")

    def stop_server(self) -> None:
        """Stop the server, cutting every open connection (fast shutdown), and keep its data: a database outage."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode:
            log = (self.root / "log").read_text(errors="replace")[-2000:] if (self.root / "log").exists() else ""
            raise RuntimeError(f"{program} failed: {result.stderr or result.stdout}\n{log}")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        import psycopg

        name = f"test_{next(self._numbers)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
