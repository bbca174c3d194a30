"""The ``/metrics`` endpoint both sides serve: prometheus_client's HTTP server over one registry.

Each agent or collector registers its own collector object in a registry of its own, so several in
one process (the tests, a multi-camera agent) never mix their metrics.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.registry import Collector

log = logging.getLogger("edgelabel.metrics")


class MetricsServer:
    """``GET /metrics`` on ``HOST:PORT`` (port 0 picks a free one; no login) in a daemon thread,
    until :meth:`stop`. Raises OSError if the address cannot be bound."""

    def __init__(self, address: str, metrics: Collector):
        registry = CollectorRegistry()
        registry.register(metrics)
        host, _, port = address.rpartition(":")  # checked by each side's config
        self._server, self._thread = start_http_server(int(port), host.strip("[]"), registry=registry)
        log.info("metrics on %s", self.url)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/metrics"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
