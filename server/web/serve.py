"""Running the web UI and review API inside ``edgelabel-collector serve``: uvicorn on a thread of its own.

The ingest loop keeps the main thread; the API answers from this thread (and Starlette's worker
threads) on the process's one database (:mod:`server.db`, shared with ingest). ``serve`` wires it
with :func:`server.api.options.add_http_arguments` (light: no web imports when only building the
CLI) and :func:`start_from_args`.

Every page and API call but the login form needs a session of an account made with
``edgelabel-collector users add`` (see :mod:`server.auth`); there is no way to serve it without login.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import threading
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from server.api.options import add_http_arguments, parse_address
from server.consistency.reviews import ConsistencyPolicy
from server.db import Database
from server.errors import ApiConfigError
from server.media import MediaBackend

__all__ = ["ReviewApiServer", "add_http_arguments", "start_from_args", "start_review_api"]

log = logging.getLogger("server.api")

STARTUP_TIMEOUT_S = 10.0


class ReviewApiServer:
    """A web app served by uvicorn from a daemon thread; :meth:`stop` ends it."""

    def __init__(self, app: Starlette, host: str, port: int, trusted_proxy: str = ""):
        self.app = app
        # Bind here, in the caller's thread, so a taken port fails `serve` at once with one line.
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            self._socket = socket.socket(family, socket.SOCK_STREAM)
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind((host, port))
        except OSError as exc:
            _close_app(app)
            raise ApiConfigError(f"cannot listen for HTTP on {host}:{port}: {exc.strerror or exc}") from None
        self.host, self.port = host, self._socket.getsockname()[1]
        # Proxy headers only from named proxies: uvicorn's default trusts 127.0.0.1, which would let any
        # local client pick the address that login throttling counts it under.
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on",
                                proxy_headers=bool(trusted_proxy), forwarded_allow_ips=trusted_proxy or None)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="review-api", daemon=True)
        self._thread.start()
        if not self._wait_started():
            self.stop()
            raise ApiConfigError(f"the review API did not start on {host}:{self.port}")

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=timeout_s)
        self._socket.close()

    def _run(self) -> None:
        # A loop of this thread's own; uvicorn installs no signal handlers off the main thread.
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def _wait_started(self) -> bool:
        deadline = threading.Event()
        for _ in range(int(STARTUP_TIMEOUT_S / 0.02)):
            if self._server.started:
                return True
            if not self._thread.is_alive():
                return False
            deadline.wait(0.02)
        return False


def start_review_api(data_dir: Path, address: str, consistency_policy: ConsistencyPolicy | None = None,
                     db: Database | None = None, media: MediaBackend | None = None,
                     trusted_proxy: str = "") -> ReviewApiServer:
    """Start the web UI and review API on ``address`` (HOST:PORT), behind the login layer.

    ``consistency_policy``: overlap reviews and gold frames (``[review]`` in the config file);
    None serves neither. ``db``: the process's database (``serve`` shares its own); None opens one.
    """
    from server.web.site import (
        create_site,  # the web stack is imported only when serving HTTP
    )

    host, port = parse_address(address)
    app = create_site(Path(data_dir), consistency_policy=consistency_policy or ConsistencyPolicy.off(), db=db,
                      media=media)
    accounts = app.state.accounts.list()
    if not accounts:
        log.warning("no reviewer account yet, so nobody can log in: add one with "
                    "'edgelabel-collector users add NAME --role admin --data-dir %s' (password on stdin)", data_dir)
    return ReviewApiServer(app, host, port, trusted_proxy)


def start_from_args(args: argparse.Namespace, consistency_policy: ConsistencyPolicy | None = None,
                    db: Database | None = None, media: MediaBackend | None = None) -> ReviewApiServer | None:
    """The web UI ``serve`` was asked for (None without ``--http``); call after the database is opened."""
    if args.http is None:
        return None
    return start_review_api(args.data_dir, args.http, consistency_policy, db, media,
                            getattr(args, "trusted_proxy", None) or "")


def _close_app(app: Starlette) -> None:
    owned_db = getattr(app.state, "owned_db", None)
    if owned_db is not None:
        owned_db.close()
