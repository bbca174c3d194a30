"""Running the review API inside ``edgelabel-collector serve``: uvicorn on a thread of its own.

The ingest loop keeps the main thread; the API answers from this thread (and Starlette's worker
threads) on its own database connection. ``serve`` wires it with :func:`server.api.options.add_http_arguments`
(light: no web imports when only building the CLI) and :func:`start_from_args`.

There are no accounts yet (issue 8): the API believes whatever reviewer name a request carries.
So it is off by default, and ``--http`` is refused unless ``--insecure-http`` says, explicitly,
that anyone who can reach the port may review as anyone.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import threading
from pathlib import Path

import uvicorn

from server.api.app import CurrentUser, create_app, reviewer_from_header
from server.api.options import add_http_arguments, parse_address
from server.errors import ApiConfigError

__all__ = ["ReviewApiServer", "add_http_arguments", "start_from_args", "start_review_api"]

log = logging.getLogger("server.api")

STARTUP_TIMEOUT_S = 10.0


class ReviewApiServer:
    """The review API served by uvicorn from a daemon thread; :meth:`stop` ends it."""

    def __init__(self, data_dir: Path, host: str, port: int, current_user: CurrentUser):
        self.app = create_app(data_dir, current_user)
        # Bind here, in the caller's thread, so a taken port fails `serve` at once with one line.
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            self._socket = socket.socket(family, socket.SOCK_STREAM)
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind((host, port))
        except OSError as exc:
            self.app.state.queue.close()
            raise ApiConfigError(f"cannot listen for HTTP on {host}:{port}: {exc.strerror or exc}") from None
        self.host, self.port = host, self._socket.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on")
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


def start_review_api(data_dir: Path, address: str, insecure_http: bool,
                     current_user: CurrentUser | None = None) -> ReviewApiServer:
    """Start the API on ``address`` (HOST:PORT). Without an auth layer (``current_user``) it needs
    ``insecure_http``: requests then name their reviewer in a header, unchecked."""
    host, port = parse_address(address)
    if current_user is None:
        if not insecure_http:
            raise ApiConfigError(
                "--http serves the review API without any login (accounts are not built yet); "
                "add --insecure-http to serve it anyway, on a trusted network only"
            )
        current_user = reviewer_from_header
        log.warning("INSECURE: the review API on %s:%d has no login; anyone who reaches it can review as anyone "
                    "(--insecure-http)", host, port)
    return ReviewApiServer(Path(data_dir), host, port, current_user)


def start_from_args(args: argparse.Namespace) -> ReviewApiServer | None:
    """The API ``serve`` was asked for (None without ``--http``); call after the store is opened."""
    if args.http is None:
        if args.insecure_http:
            raise ApiConfigError("--insecure-http only makes sense with --http HOST:PORT")
        return None
    return start_review_api(args.data_dir, args.http, args.insecure_http)
