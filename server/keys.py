"""CURVE keys of the collector and the allowlist of device keys, under ``<data_dir>/keys/``.

``collector.json`` holds the collector's key pair (mode 0600). ``model_signing.json`` holds the
Ed25519 key pair that signs model offers (:mod:`edge.contract.rollout`); every credentials file
carries its public half (``model_signing_key``). ``devices.json`` maps each device
name to its public key; a device exists exactly as long as it is in that file, so removing it
revokes the device for every new connection. The ZAP authenticator re-reads the file when it
changes, so `keys add-device` / `keys remove-device` take effect on a running collector.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import zmq
import zmq.auth.thread
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.contract.credentials import (
    CollectorEndpoint,
    CredentialsError,
    DeviceCredentials,
    read_credentials,
    write_credentials,
)
from edge.contract.files import atomic_write_text
from edge.contract.wire import CAMERA_SEPARATOR
from server.errors import CollectorError

log = logging.getLogger("server.keys")


class KeyStoreError(CollectorError):
    """A key operation the user asked for cannot be done (unknown device, existing name...)."""


@dataclass(frozen=True)
class KeyPair:
    public: str
    secret: str


@dataclass(frozen=True)
class DeviceSnapshot:
    """``devices.json`` as read at one modification time: what one ingest batch is checked against."""

    devices: Mapping[str, dict]
    """Device name → its entry (``public_key``, ``added_at``, optional ``require_redaction``)."""
    name_by_key: Mapping[bytes, str]
    """Device name by Z85 public key: the allowlist."""


class KeyStore:
    def __init__(self, data_dir: Path):
        self.dir = Path(data_dir) / "keys"
        self.collector_file = self.dir / "collector.json"
        self.devices_file = self.dir / "devices.json"
        self.signing_file = self.dir / "model_signing.json"
        self._snapshot_lock = threading.Lock()
        self._snapshot: tuple[int | None, DeviceSnapshot] | None = None

    def collector_keys(self, create: bool = True) -> KeyPair:
        """The collector's key pair, created on first use."""
        if self.collector_file.exists():
            doc = _read_json(self.collector_file)
            return KeyPair(public=doc["public"], secret=doc["secret"])
        if not create:
            raise KeyStoreError(f"no collector keys in {self.dir}: is this the collector's data directory? (create one "
                                f"with 'edgelabel-collector init --data-dir {self.dir.parent}')")
        public, secret = (k.decode() for k in zmq.curve_keypair())
        _write_json(self.collector_file, {"public": public, "secret": secret})
        log.info("created collector key pair in %s", self.collector_file)
        self.model_signing_keys()  # with the CURVE keys, so that every device's credentials can carry it
        return KeyPair(public=public, secret=secret)

    def model_signing_keys(self, create: bool = True) -> KeyPair:
        """The Ed25519 key pair that signs model offers, as hex (public: 32 bytes, secret: the
        32-byte seed); created on first use (data directories from before rollouts have none)."""
        if self.signing_file.exists():
            doc = _read_json(self.signing_file)
            return KeyPair(public=doc["public"], secret=doc["secret"])
        if not create:
            raise KeyStoreError(f"no model-signing key in {self.dir} (it is made by 'init', 'keys add-device' or "
                                "the first model deployment)")
        private = Ed25519PrivateKey.generate()
        pair = KeyPair(public=private.public_key().public_bytes_raw().hex(), secret=private.private_bytes_raw().hex())
        _write_json(self.signing_file, {"public": pair.public, "secret": pair.secret})
        log.info("created the model-signing key pair in %s", self.signing_file)
        return pair

    def model_signer(self) -> Ed25519PrivateKey:
        """The private key that signs model offers (created on first use)."""
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(self.model_signing_keys().secret))

    def add_signing_key_to(self, path: Path) -> DeviceCredentials:
        """Write this collector's model-signing key into the credentials file at ``path`` (issued
        before rollouts existed), which must be one this collector issued."""
        try:
            credentials = read_credentials(path)
        except CredentialsError as exc:
            raise KeyStoreError(str(exc)) from None
        collector = self.collector_keys(create=False)
        if collector.public not in {c.public_key for c in credentials.collectors}:
            raise KeyStoreError(f"{path} names other collectors' keys, not this data directory's "
                                f"({collector.public}): it was issued elsewhere")
        updated = replace(credentials, model_signing_key=self.model_signing_keys().public)
        write_credentials(path, updated)
        return updated

    def devices(self) -> dict[str, dict]:
        """Device name → {"public_key", "added_at"}."""
        if not self.devices_file.exists():
            return {}
        return _read_json(self.devices_file).get("devices", {})

    def current_devices(self) -> DeviceSnapshot:
        """The device file as it is now, for a running collector: one ``stat`` a call, and a re-read
        only when ``keys add-device``/``remove-device`` changed it. The allowlist and the redaction
        policy both read this one snapshot, so a batch is never checked against two versions."""
        with self._snapshot_lock:
            try:
                mtime = self.devices_file.stat().st_mtime_ns
            except FileNotFoundError:
                mtime = None
            if self._snapshot is None or self._snapshot[0] != mtime:
                devices = self.devices()
                name_by_key = {entry["public_key"].encode(): name for name, entry in devices.items()}
                self._snapshot = (mtime, DeviceSnapshot(devices, name_by_key))
                log.info("device allowlist loaded: %d device(s)", len(name_by_key))
            return self._snapshot[1]

    def add_device(self, name: str, endpoint: str | Sequence[str], out: Path, *,
                   require_redaction=()) -> DeviceCredentials:
        """Issue a key pair for ``name``, allow it, and write its credentials file to ``out``.

        ``endpoint``: where the device connects, or a list of nodes it fails over between in order
        (nodes that share this data directory's keys, so one collector key serves them all).
        ``require_redaction``: kinds every frame of the device must report as redacted
        (:mod:`server.redaction_policy`).
        """
        endpoints = [endpoint] if isinstance(endpoint, str) else list(endpoint)
        if not endpoints:
            raise KeyStoreError("give at least one endpoint")
        repeated = sorted({e for e in endpoints if endpoints.count(e) > 1})
        if repeated:
            raise KeyStoreError(f"endpoint {', '.join(repeated)} given more than once")
        if not name or not name.isprintable() or len(name) > 128:
            raise KeyStoreError("device name must be 1..128 printable characters")
        if CAMERA_SEPARATOR in name:
            raise KeyStoreError(f"device name {name!r} holds {CAMERA_SEPARATOR!r}, which names the cameras of an agent "
                                f"({name.split(CAMERA_SEPARATOR)[0]}{CAMERA_SEPARATOR}gate): give the agent a name "
                                "without it")
        devices = self.devices()
        if name in devices:
            raise KeyStoreError(f"device {name!r} already exists; remove it first to issue a new key")
        collector = self.collector_keys()
        public, secret = (k.decode() for k in zmq.curve_keypair())
        credentials = DeviceCredentials(
            device=name,
            device_public_key=public,
            device_secret_key=secret,
            collectors=tuple(CollectorEndpoint(e, collector.public) for e in endpoints),
            model_signing_key=self.model_signing_keys().public,
        )
        # Write the device's file first: an allowlisted key nobody holds is harmless, a lost file is not.
        write_credentials(out, credentials)
        devices[name] = {"public_key": public, "added_at": time.time()}
        if require_redaction:
            devices[name]["require_redaction"] = list(require_redaction)
        _write_json(self.devices_file, {"devices": devices})
        log.info("added device %r", name)
        return credentials

    def remove_device(self, name: str) -> None:
        devices = self.devices()
        if name not in devices:
            raise KeyStoreError(f"no device named {name!r} (known: {', '.join(sorted(devices)) or 'none'})")
        del devices[name]
        _write_json(self.devices_file, {"devices": devices})
        log.info("removed device %r; its key can no longer connect", name)


class DeviceAuthenticator(zmq.auth.thread.ThreadAuthenticator):
    """ZAP handler: admits only allowlisted device keys and names each connection by its device.

    The device name and key become the ZeroMQ ``User-Id`` of every message on that connection
    (:func:`user_id_of`). The receiver compares the name with the device named in the header (no
    impersonation) and the pair with the live allowlist (:meth:`allowlist`), so removing a device,
    or issuing it a new key, stops its open connections at their next message, not only new ones.
    """

    def __init__(self, context: zmq.Context, keys: KeyStore):
        super().__init__(context=context, log=logging.getLogger("server.zap"))
        self._keys = keys
        self.denied = 0
        self._refused_keys: set[bytes] = set()

    def start(self) -> None:
        super().start()
        self.configure_curve_callback(domain="*", credentials_provider=self)

    def allowlist(self) -> Mapping[bytes, str]:
        """Device name by Z85 public key, as the device file says now (see :meth:`KeyStore.current_devices`)."""
        return self._keys.current_devices().name_by_key

    # Called by the ZAP thread with the client's Z85 public key.
    def callback(self, domain: str, z85_key: bytes) -> bool:
        allowed = z85_key in self.allowlist()
        if not allowed:
            self.denied += 1
            # Once per key (a refused peer retries every few seconds), then every 1000th refusal.
            if (z85_key not in self._refused_keys and len(self._refused_keys) < 1000) or self.denied % 1000 == 0:
                self._refused_keys.add(z85_key)
                log.warning("refused a connection from an unknown device key %s (%d refusals so far)",
                            z85_key.decode(errors="replace"), self.denied)
        return allowed

    def curve_user_id(self, client_public_key: bytes) -> str:
        z85_key = zmq.utils.z85.encode(client_public_key)
        return user_id_of(self.allowlist()[z85_key], z85_key)


_USER_ID_SEPARATOR = "\n"
"""Between name and key in a connection's User-Id; device names are printable, so never hold it."""


def user_id_of(device: str, z85_key: bytes) -> str:
    """The ``User-Id`` the collector gives a connection of ``device`` with key ``z85_key``."""
    return f"{device}{_USER_ID_SEPARATOR}{z85_key.decode()}"


def split_user_id(user_id: str) -> tuple[str, bytes]:
    """(device name, Z85 key) of a connection's ``User-Id``."""
    device, _, z85_key = user_id.rpartition(_USER_ID_SEPARATOR)
    return device, z85_key.encode()


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KeyStoreError(f"cannot read {path}: {exc}") from None


def _write_json(path: Path, doc: dict) -> None:
    """Atomic write with mode 0600: these files hold secrets or decide who may connect."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=True), mode=0o600)
