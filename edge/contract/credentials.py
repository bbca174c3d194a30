"""Device credentials: the file `edgelabel-collector keys add-device` writes and the agent reads.

Light (standard library and tomli_w): the collector imports this module to write the file, the agent to read it.
The file is TOML and holds the device's CURVE key pair and the collectors it may send to, each an
ingest endpoint with the collector's public (server) key. It is a secret (it holds the device's
secret key) and is written with mode 0600. Three shapes, the first one the original::

    endpoint = "tcp://a:5555"                        # one collector
    collector_public_key = "..."

    endpoints = ["tcp://a:5555", "tcp://b:5555"]     # several nodes sharing one key pair
    collector_public_key = "..."

    [[collectors]]                                   # several nodes, each with its own key pair
    endpoint = "tcp://a:5555"
    public_key = "..."

The agent connects to the first and fails over to the next in order (:mod:`edge.sender`).

``model_signing_key`` (optional, 64 hex digits) is the collector's Ed25519 public key for model
rollouts (:mod:`edge.contract.rollout`): the agent accepts only offers signed with it. Files
written before rollouts existed lack it, and their agents refuse every offer until re-issued.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from edge.contract.errors import ConfigError
from edge.contract.files import atomic_write_text

# Z85-encoded 32-byte CURVE keys are 40 characters from this alphabet (none needs TOML escaping).
_Z85_KEY = re.compile(r"^[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$")
_ED25519_PUBLIC_KEY = re.compile(r"^[0-9a-f]{64}$")
_DEVICE_FIELDS = ("device", "device_public_key", "device_secret_key")
_OPTIONAL_FIELDS = ("model_signing_key",)
_COLLECTOR_FIELDS = ("endpoint", "endpoints", "collector_public_key", "collectors")
_SHAPES = "endpoint or endpoints with collector_public_key, or [[collectors]] tables"


class CredentialsError(ConfigError):
    """A credentials file that cannot be read or used (missing, not TOML, a bad key or endpoint)."""


@dataclass(frozen=True)
class CollectorEndpoint:
    """One collector node the device may send to."""

    endpoint: str
    """Its ingest address, e.g. ``tcp://collector:5555``."""
    public_key: str
    """Its CURVE public (server) key, Z85."""


@dataclass(frozen=True)
class DeviceCredentials:
    device: str
    device_public_key: str
    device_secret_key: str
    collectors: tuple[CollectorEndpoint, ...]
    """In the order the agent tries them; at least one."""
    model_signing_key: str = ""
    """The collector's Ed25519 public key (hex) that signs model offers; "" when the file has none."""

    @classmethod
    def single(cls, device: str, endpoint: str, device_public_key: str, device_secret_key: str,
               collector_public_key: str) -> DeviceCredentials:
        """Credentials for one collector (the original file's fields)."""
        return cls(device, device_public_key, device_secret_key,
                   (CollectorEndpoint(endpoint, collector_public_key),))

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(collector.endpoint for collector in self.collectors)

    @property
    def endpoint(self) -> str:
        """The first (preferred) endpoint."""
        return self.collectors[0].endpoint

    @property
    def collector_public_key(self) -> str:
        """The first endpoint's server key (the only one for a single collector or a shared key)."""
        return self.collectors[0].public_key

    def collectors_for(self, endpoints: Sequence[str]) -> tuple[CollectorEndpoint, ...]:
        """``endpoints`` (e.g. from ``--collector``) with their server keys: the key the file gives
        that endpoint, else the file's one shared key. Raises :class:`CredentialsError` for an
        endpoint the file does not know when its collectors have different keys."""
        known = {collector.endpoint: collector.public_key for collector in self.collectors}
        shared = {collector.public_key for collector in self.collectors}
        resolved = []
        for endpoint in endpoints:
            if endpoint in known:
                resolved.append(CollectorEndpoint(endpoint, known[endpoint]))
            elif len(shared) == 1:
                resolved.append(CollectorEndpoint(endpoint, next(iter(shared))))
            else:
                raise CredentialsError(
                    f"no collector key for {endpoint}: the credentials list {', '.join(known)} with a key each; "
                    "use one of those or add it to the file's [[collectors]]")
        return tuple(resolved)


def read_credentials(path: str | Path) -> DeviceCredentials:
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CredentialsError(f"credentials file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"cannot read credentials file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CredentialsError(f"credentials file {path} is not valid TOML: {exc}") from None
    return parse_credentials(doc, str(path))


def parse_credentials(doc: dict[str, Any], where: str) -> DeviceCredentials:
    """The credentials in a parsed file; ``where`` names it in errors."""
    where = f"credentials file {where}"
    missing = [key for key in _DEVICE_FIELDS if not isinstance(doc.get(key), str) or not doc.get(key)]
    if not any(key in doc for key in ("endpoint", "endpoints", "collectors")):
        missing.append("endpoint")
        if "collector_public_key" not in doc:
            missing.append("collector_public_key")
    if missing:
        raise CredentialsError(f"{where} lacks {', '.join(missing)} (expected the file from 'keys add-device')")
    unknown = sorted(set(doc) - set(_DEVICE_FIELDS) - set(_COLLECTOR_FIELDS) - set(_OPTIONAL_FIELDS))
    if unknown:
        raise CredentialsError(f"{where} has unknown keys: {', '.join(unknown)}")
    for key in ("device_public_key", "device_secret_key"):
        _check_key(doc[key], key, where)
    collectors = _collectors(doc, where)
    endpoints = [collector.endpoint for collector in collectors]
    repeated = sorted({endpoint for endpoint in endpoints if endpoints.count(endpoint) > 1})
    if repeated:
        raise CredentialsError(f"{where} lists {', '.join(repeated)} more than once")
    signing_key = doc.get("model_signing_key", "")
    if not isinstance(signing_key, str) or (signing_key and not _ED25519_PUBLIC_KEY.match(signing_key)):
        raise CredentialsError(f"{where}: model_signing_key must be 64 lowercase hex digits (an Ed25519 public key)")
    return DeviceCredentials(doc["device"], doc["device_public_key"], doc["device_secret_key"], collectors,
                             signing_key)


def _collectors(doc: dict[str, Any], where: str) -> tuple[CollectorEndpoint, ...]:
    shapes = [key for key in ("endpoint", "endpoints", "collectors") if key in doc]
    if len(shapes) > 1:
        raise CredentialsError(f"{where} has both {' and '.join(shapes)}: expected one of {_SHAPES}")
    if "collectors" in doc:
        if "collector_public_key" in doc:
            raise CredentialsError(f"{where} has both collector_public_key and [[collectors]]: each [[collectors]] "
                                   "table carries its own public_key")
        tables = doc["collectors"]
        if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
            raise CredentialsError(f"{where}: collectors must be one or more [[collectors]] tables, "
                                   "each with endpoint and public_key")
        collectors = []
        for i, table in enumerate(tables):
            if set(table) != {"endpoint", "public_key"}:
                raise CredentialsError(f"{where}: collectors[{i}] has {', '.join(sorted(table)) or 'nothing'}: "
                                       "expected endpoint and public_key")
            collectors.append(CollectorEndpoint(_check_endpoint(table["endpoint"], f"collectors[{i}].endpoint", where),
                                                _check_key(table["public_key"], f"collectors[{i}].public_key", where)))
        return tuple(collectors)
    if "collector_public_key" not in doc:
        raise CredentialsError(f"{where} lacks collector_public_key (the key of the collectors at "
                               f"{shapes[0]}; or give [[collectors]] tables with a key each)")
    key = _check_key(doc["collector_public_key"], "collector_public_key", where)
    if "endpoint" in doc:
        return (CollectorEndpoint(_check_endpoint(doc["endpoint"], "endpoint", where), key),)
    endpoints = doc["endpoints"]
    if not isinstance(endpoints, list) or not endpoints:
        raise CredentialsError(f"{where}: endpoints must be a non-empty list such as "
                               '["tcp://a:5555", "tcp://b:5555"]')
    return tuple(CollectorEndpoint(_check_endpoint(endpoint, f"endpoints[{i}]", where), key)
                 for i, endpoint in enumerate(endpoints))


def _check_key(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str) or not _Z85_KEY.match(value):
        raise CredentialsError(f"{where}: {key} is not a 40-character Z85 CURVE key")
    return value


def _check_endpoint(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise CredentialsError(f"{where}: {key} must be an endpoint such as \"tcp://collector:5555\"")
    return value


def credentials_text(credentials: DeviceCredentials) -> str:
    """The file's TOML, in the simplest shape that holds the collectors (one: the original shape)."""
    doc: dict[str, Any] = {"device": credentials.device}
    keys = {collector.public_key for collector in credentials.collectors}
    if len(credentials.collectors) == 1:
        doc["endpoint"] = credentials.endpoint
    elif len(keys) == 1:
        doc["endpoints"] = list(credentials.endpoints)
    doc["device_public_key"] = credentials.device_public_key
    doc["device_secret_key"] = credentials.device_secret_key
    if credentials.model_signing_key:
        doc["model_signing_key"] = credentials.model_signing_key
    if len(keys) == 1:
        doc["collector_public_key"] = credentials.collector_public_key
        return tomli_w.dumps(doc)
    # [[collectors]] tables written out (tomli_w would inline short ones): one table per node reads best.
    return tomli_w.dumps(doc) + "".join(
        "\n[[collectors]]\n" + tomli_w.dumps({"endpoint": c.endpoint, "public_key": c.public_key})
        for c in credentials.collectors)


def write_credentials(path: str | Path, credentials: DeviceCredentials) -> None:
    """Write the file atomically with mode 0600 (it holds the device's secret key)."""
    path = Path(path)
    text = (
        "# edgelabel device credentials, from 'edgelabel-collector keys add-device'.\n"
        "# Secret: anyone holding this file can send frames as this device. Revoke with\n"
        "# 'edgelabel-collector keys remove-device NAME'.\n"
        + credentials_text(credentials)
    )
    atomic_write_text(path, text, mode=0o600)
