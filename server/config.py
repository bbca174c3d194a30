"""The collector's configuration file: TOML with one ``[collector]`` table (deploy/collector.example.toml).

Same rules as the agent's, read by the loader both share (``edge.contract.config_files``): unknown
keys and tables are errors, types and ranges are checked when the file is read, a key left out
takes its default, command-line flags override the file, and every error is one line naming where
the value came from, the key, the value and what was expected.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edge.contract.config_files import Override, address, check, load_file
from edge.contract.errors import ConfigError
from server.errors import CollectorError

DEFAULT_INGEST = "tcp://0.0.0.0:5555"
NO_INGEST = "off"
"""``collector.ingest`` of a web-only node (``serve --no-ingest``): no ZeroMQ socket, only ``http``."""


class CollectorConfigError(CollectorError):
    """The collector's config file or flags are wrong (the message names the key)."""


@dataclass(frozen=True)
class CollectorSettings:
    """``[collector]``: what ``edgelabel-collector serve`` does."""

    data_dir: str = ""
    """Required (here or ``--data-dir``): where the collector keeps everything it owns."""
    ingest: str = field(default=DEFAULT_INGEST, metadata=check(
        lambda v: v == NO_INGEST or v.startswith(("tcp://", "ipc://")),
        'an endpoint such as "tcp://0.0.0.0:5555", or "off" for a web-only node'))
    """Where agents send frames; ``off``: a web-only node (needs ``http``), e.g. behind a load balancer."""
    insecure: bool = False
    http: str = address()
    trusted_proxy: str = ""
    """Comma-separated addresses of reverse proxies whose ``X-Forwarded-For`` names the client (for
    login throttling per address); empty: the peer's own address, headers ignored."""
    metrics: str = address()
    database: str = field(default="", metadata=check(
        lambda v: not v or v.startswith(("postgresql://", "postgres://", "postgresql+psycopg://", "sqlite:///")),
        'a database URL such as "postgresql://edgelabel@db.example/edgelabel" or "sqlite:///PATH"'))
    """The collector's database; empty: ``edgelabel.db`` in ``data_dir`` (SQLite)."""
    media: str = field(default="", metadata=check(lambda v: v == "" or v.startswith("s3://"),
                                                  '"s3://BUCKET/PREFIX", or "" for the data directory\'s media/'))
    """Where the images are: an S3-compatible bucket, or (empty, the default) ``<data_dir>/media``."""


@dataclass(frozen=True)
class S3Settings:
    """``[s3]``: how to reach the bucket of ``collector.media``. A key left empty is taken from the
    standard AWS environment variables (``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``,
    ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``) or boto3's other usual places."""

    endpoint: str = field(default="", metadata=check(lambda v: v == "" or v.startswith(("http://", "https://")),
                                                     'an URL such as "http://127.0.0.1:8333"'))
    region: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""


def _fraction(description: str):
    return field(default=0.0, metadata=check(lambda v: 0 <= v <= 1, f"{description}, a fraction in [0, 1]"))


@dataclass(frozen=True)
class ReviewSettings:
    """``[review]``: how consistent labels are checked across reviewers."""

    overlap_rate: float = _fraction("share of frames reviewed blind by a second reviewer")
    """0 by default: with a single reviewer, second reviews could never be done. Set e.g. 0.05
    once two or more reviewers work on this collector."""
    gold_rate: float = field(default=0.02, metadata=check(lambda v: 0 <= v <= 1, "a fraction in [0, 1]"))
    """Chance that a claim serves a gold frame (marked by an admin) the reviewer has not seen."""
    agreement_threshold: float = field(default=0.8, metadata=check(lambda v: 0 <= v <= 1, "a fraction in [0, 1]"))
    """Overlap pairs agreeing less than this go to an admin's adjudication queue."""


@dataclass(frozen=True)
class CollectorConfig:
    """The whole file."""

    collector: CollectorSettings = field(default_factory=CollectorSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)
    s3: S3Settings = field(default_factory=S3Settings)
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def origin_of(self, key: str) -> str | None:
        return self.origins.get(key)


SERVE_FLAGS = {
    "data_dir": ("--data-dir", "collector.data_dir"),
    "ingest": ("--ingest", "collector.ingest"),
    "insecure": ("--insecure", "collector.insecure"),
    "http": ("--http", "collector.http"),
    "trusted_proxy": ("--trusted-proxy", "collector.trusted_proxy"),
    "metrics": ("--metrics", "collector.metrics"),
    "database": ("--database", "collector.database"),
    "media": ("--media", "collector.media"),
}
"""``serve``'s flags that the file can set: argparse destination -> (flag, key)."""


def load_collector_config(path: str | Path | None = None,
                          overrides: Mapping[str, Override] | None = None) -> CollectorConfig:
    try:
        config = load_file(CollectorConfig, path, overrides)
    except ConfigError as exc:
        raise CollectorConfigError(str(exc)) from None
    if config.collector.ingest == NO_INGEST and not config.collector.http:
        raise CollectorConfigError(f'collector.ingest = "off" (from {config.origin_of("collector.ingest")}): a web-only'
                                   " node needs collector.http (or --http HOST:PORT), else it serves nothing")
    return config


def serve_settings(args: argparse.Namespace) -> CollectorSettings:
    """``serve``'s ``[collector]`` settings (see :func:`serve_config`)."""
    return serve_config(args).collector


def serve_config(args: argparse.Namespace) -> CollectorConfig:
    """``serve``'s settings: flag > ``--config`` file > default; a data directory is required."""
    overrides = {}
    for dest, (flag, key) in SERVE_FLAGS.items():
        value = getattr(args, dest, None)
        if value is not None and value is not False:
            overrides[key] = Override(str(value) if isinstance(value, Path) else value, flag)
    if getattr(args, "no_ingest", False):
        if args.ingest is not None:
            raise CollectorConfigError("--ingest and --no-ingest: give one of them")
        overrides["collector.ingest"] = Override(NO_INGEST, "--no-ingest")
    config = load_collector_config(args.config, overrides)
    if not config.collector.data_dir:
        where = " in the --config file" if args.config else " in a --config file"
        raise CollectorConfigError(f"no data directory: give --data-dir DIR, or set collector.data_dir{where}")
    return config
