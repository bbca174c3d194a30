"""``serve``'s options for the review API; argparse only, so building the CLI imports no web stack."""

from __future__ import annotations

import argparse

from server.errors import ApiConfigError


def add_http_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--http", metavar="HOST:PORT",
                        help="also serve the review web UI and its JSON API here, e.g. 127.0.0.1:8080, behind a "
                             "login (accounts: 'users add'); plain HTTP, so put TLS in front beyond localhost "
                             "(default: off)")
    parser.add_argument("--trusted-proxy", metavar="ADDRESSES", default=None,
                        help="comma-separated addresses of reverse proxies (e.g. 127.0.0.1 for nginx on this host) "
                             "whose X-Forwarded-For names the client; login throttling counts per client "
                             "address, so behind a proxy set this (default: none, the header is ignored)")


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) as (host, port)."""
    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ApiConfigError(f"--http: expected HOST:PORT such as 127.0.0.1:8080, got {address!r}")
    return host, int(port)
