"""Device credentials: the file `edgelabel-collector keys add-device` writes and the agent reads.

Light (standard library and tomli_w): the collector imports this module to write the file, the agent to read it.
The file is TOML and holds the device's CURVE key pair, the collector's public key and the ingest
endpoint. It is a secret (it holds the device's secret key) and is written with mode 0600.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from edge.contract.errors import ConfigError
from edge.contract.files import atomic_write_text

# Z85-encoded 32-byte CURVE keys are 40 characters from this alphabet (none needs TOML escaping).
_Z85_KEY = re.compile(r"^[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$")
_FIELDS = ("device", "endpoint", "device_public_key", "device_secret_key", "collector_public_key")


@dataclass(frozen=True)
class DeviceCredentials:
    device: str
    endpoint: str
    device_public_key: str
    device_secret_key: str
    collector_public_key: str


def read_credentials(path: str | Path) -> DeviceCredentials:
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"credentials file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read credentials file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"credentials file {path} is not valid TOML: {exc}") from None
    missing = [key for key in _FIELDS if not isinstance(doc.get(key), str) or not doc.get(key)]
    if missing:
        raise ConfigError(f"credentials file {path} lacks {', '.join(missing)} (expected the file from 'keys add-device')")
    unknown = sorted(set(doc) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"credentials file {path} has unknown keys: {', '.join(unknown)}")
    for key in ("device_public_key", "device_secret_key", "collector_public_key"):
        if not _Z85_KEY.match(doc[key]):
            raise ConfigError(f"credentials file {path}: {key} is not a 40-character Z85 CURVE key")
    return DeviceCredentials(**{key: doc[key] for key in _FIELDS})


def write_credentials(path: str | Path, credentials: DeviceCredentials) -> None:
    """Write the file atomically with mode 0600 (it holds the device's secret key)."""
    path = Path(path)
    text = (
        "# edgelabel device credentials, from 'edgelabel-collector keys add-device'.\n"
        "# Secret: anyone holding this file can send frames as this device. Revoke with\n"
        "# 'edgelabel-collector keys remove-device NAME'.\n"
        + tomli_w.dumps({key: getattr(credentials, key) for key in _FIELDS})
    )
    atomic_write_text(path, text, mode=0o600)
