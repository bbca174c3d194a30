"""Prometheus metrics: the text exposition format and a small HTTP endpoint that serves it.

Standard library only, so the agent (on a small device) and the collector both use it without
a client library. ``MetricsServer`` answers ``GET /metrics`` with whatever its ``collect``
function returns at that moment; nothing is cached, so a scrape always sees current numbers.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("edgelabel.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Metric:
    name: str
    help: str
    kind: str
    """``counter`` (only goes up) or ``gauge``."""
    samples: tuple[tuple[dict[str, str], float], ...]
    """(labels, value) pairs; an empty label dict for an unlabelled metric."""

    @classmethod
    def single(cls, name: str, help: str, kind: str, value: float) -> "Metric":
        return cls(name, help, kind, (({}, value),))


def render(metrics: Iterable[Metric]) -> str:
    lines = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {metric.help}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for labels, value in metric.samples:
            label_text = ",".join(f'{key}="{_escape(str(val))}"' for key, val in sorted(labels.items()))
            lines.append(f"{metric.name}{{{label_text}}} {_number(value)}" if labels else f"{metric.name} {_number(value)}")
    return "\n".join(lines) + "\n"


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (port 0 picks a free one); raises ValueError with a readable message."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:9464, got {address!r}")
    return host.strip("[]"), int(port)


class MetricsServer:
    def __init__(self, address: str, collect: Callable[[], list[Metric]]):
        host, port = parse_address(address)
        handler = _handler_for(collect)
        self._server = ThreadingHTTPServer((host, port), handler)  # OSError if the port is taken
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/metrics"

    def start(self) -> "MetricsServer":
        self._thread.start()
        log.info("metrics on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(collect: Callable[[], list[Metric]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.split("?", 1)[0] != "/metrics":
                self._send(404, "text/plain; charset=utf-8", b"only /metrics is here\n")
                return
            try:
                body = render(collect()).encode()
            except Exception:  # a failing scrape must not take the process down
                log.exception("collecting metrics failed")
                self._send(500, "text/plain; charset=utf-8", b"collecting metrics failed; see the log\n")
                return
            self._send(200, CONTENT_TYPE, body)

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # scrapes every 15 s are not news
            log.debug("metrics: " + format, *args)

    return Handler


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if float(value).is_integer() else repr(float(value))
