"""Model rollouts, collector side: signed offers in heartbeat replies, chunked downloads and device
reports through a real receiver over CURVE on loopback, the deployments in a real database, and
the ``models deploy|rollback|status`` and ``keys show-signing-key`` command lines."""

import hashlib
import json
import shutil
import stat
import time
from dataclasses import replace

import onnx
import pytest
import zmq
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.contract.credentials import DeviceCredentials, read_credentials, write_credentials
from edge.contract.rollout import (
    ChunkRequest,
    ModelReport,
    decode_chunk_reply,
    encode_chunk_request,
    encode_report,
    parse_offer,
    signed_bytes,
)
from edge.contract.wire import DeviceStatus, Reply, decode_reply, encode_status
from server.cli import main as collector
from server.datadir import DataDir
from server.keys import KeyStore
from server.models.deployments import canary_pick
from server.models.registry import add_model
from tests.conftest import DATA_DIR
from tests.helpers import ReceiverThread

MODEL = DATA_DIR.parent / "models" / "yolox_nano.onnx"
WEIGHTS_ID = f"yolox_nano-{hashlib.sha256(MODEL.read_bytes()).hexdigest()[:8]}"


@pytest.fixture(scope="module")
def variant_file(tmp_path_factory):
    """The shared model with one more metadata entry: another file (another hash), the same boxes."""
    model = onnx.load(str(MODEL))
    onnx.helper.set_model_props(model, {"note": "rollout variant"})
    path = tmp_path_factory.mktemp("variant") / "nano_v2.onnx"
    onnx.save(model, str(path))
    return path


def make_collector_dir(folder, database, variant_file):
    """A data directory with two devices' credentials (beside it) and both models registered."""
    data_dir = folder / "data"
    keys = KeyStore(data_dir)
    for device in ("cam-1", "cam-2"):
        keys.add_device(device, "tcp://127.0.0.1:0", folder / f"{device}.toml")
    with DataDir.open(data_dir, database=database) as store:
        add_model(store.db, store.media, MODEL, "nano")
        add_model(store.db, store.media, variant_file, "nano_v2")
    return data_dir


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory, variant_file):
    """One SQLite collector to copy (registering runs the agent's loader, seconds on a loaded machine)."""
    return make_collector_dir(tmp_path_factory.mktemp("template"), None, variant_file)


@pytest.fixture
def collector_dir(tmp_path, database, variant_file, sqlite_template):
    if database is not None:
        return make_collector_dir(tmp_path, database, variant_file)
    shutil.copytree(sqlite_template, tmp_path / "data")
    for device in ("cam-1", "cam-2"):
        shutil.copy2(sqlite_template.parent / f"{device}.toml", tmp_path / f"{device}.toml")
    return tmp_path / "data"


class Device:
    """A device's DEALER socket with its credentials' CURVE keys: one request, one reply."""

    def __init__(self, credentials: DeviceCredentials, endpoint: str):
        self.credentials = credentials
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.curve_secretkey = credentials.device_secret_key.encode()
        self.socket.curve_publickey = credentials.device_public_key.encode()
        self.socket.curve_serverkey = credentials.collector_public_key.encode()
        self.socket.connect(endpoint)

    def ask(self, parts: list[bytes]) -> list[bytes]:
        self.socket.send_multipart(parts)
        assert self.socket.poll(15_000), "the receiver must answer"
        return self.socket.recv_multipart()

    def heartbeat(self, model_id: str, device: str | None = None) -> Reply:
        status = DeviceStatus(device or self.credentials.device, time.time(), model_id, {"fps": 5.0})
        [raw] = self.ask(encode_status(status))
        reply = decode_reply(raw)
        assert reply.ok and reply.status == "noted"
        return reply

    def report(self, deployment: int, sha256: str, outcome: str, **extra) -> Reply:
        report = ModelReport(self.credentials.device, deployment, sha256, outcome, time.time(), **extra)
        [raw] = self.ask(encode_report(report))
        return decode_reply(raw)

    def download(self, sha256: str, chunk_bytes: int) -> bytes:
        data = b""
        while True:
            parts = self.ask(encode_chunk_request(ChunkRequest(self.credentials.device, sha256, len(data), chunk_bytes)))
            header, chunk = decode_chunk_reply(parts)
            assert header.sha256 == sha256 and header.offset == len(data) and len(chunk) <= chunk_bytes
            data += chunk
            if len(data) >= header.total:
                return data

    def close(self) -> None:
        self.socket.close()


def verified_offer(reply: Reply, credentials: DeviceCredentials):
    offer = parse_offer(reply.offer)
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(credentials.model_signing_key))
    public.verify(bytes.fromhex(offer.signature), signed_bytes(offer))  # raises unless signed by the collector
    return offer


def cli(capsys, *args: str, database: str | None = None) -> tuple[int, str, str]:
    extra = ["--database", database] if database else []
    code = collector([*args, *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_deployment_is_offered_signed_downloaded_in_chunks_reported_and_rolled_back(
        tmp_path, collector_dir, database, capsys):
    running = ReceiverThread(collector_dir, secure=True, database=database)
    cam1 = Device(read_credentials(tmp_path / "cam-1.toml"), running.endpoint)
    cam2 = Device(read_credentials(tmp_path / "cam-2.toml"), running.endpoint)
    try:
        assert cam1.heartbeat(f"{WEIGHTS_ID}@ort-cpu").offer is None  # nothing deployed yet
        cam2.heartbeat(f"{WEIGHTS_ID}@ort-cpu")
        code, out, _ = cli(capsys, "models", "deploy", "nano_v2", "--device", "cam-1", "--data-dir",
                           str(collector_dir), database=database)
        assert code == 0 and out.startswith("deployment 1: nano_v2 (active) to cam-1")

        reply = cam1.heartbeat(f"{WEIGHTS_ID}@ort-cpu")
        offer = verified_offer(reply, cam1.credentials)
        [v2] = [m for m in json.loads(_models_json(capsys, collector_dir, database)) if m["name"] == "nano_v2"]
        assert (offer.deployment, offer.device, offer.name, offer.sha256, offer.size_bytes, offer.mode) == (
            1, "cam-1", "nano_v2", v2["sha256"], v2["size_bytes"], "active")
        assert (offer.model_id, offer.file_name) == (v2["model_id"], "nano_v2.onnx")
        assert cam1.heartbeat(f"{WEIGHTS_ID}@ort-cpu").offer == reply.offer  # repeats until an outcome
        assert cam2.heartbeat(f"{WEIGHTS_ID}@ort-cpu").offer is None  # addressed to cam-1 only
        # A tampered offer fails the device's check.
        tampered = parse_offer({**reply.offer, "device": "cam-2"})
        with pytest.raises(InvalidSignature):
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(cam2.credentials.model_signing_key)).verify(
                bytes.fromhex(tampered.signature), signed_bytes(tampered))

        data = cam1.download(offer.sha256, 64 * 1024)
        assert len(data) > 64 * 1024 and hashlib.sha256(data).hexdigest() == v2["sha256"]
        # Another device may not fetch it, under its own name or cam-1's.
        refused = decode_reply(cam2.ask(encode_chunk_request(ChunkRequest("cam-2", offer.sha256, 0, 1024)))[0])
        assert (refused.ok, refused.status) == (False, "model_unavailable")
        impostor = decode_reply(cam2.ask(encode_chunk_request(ChunkRequest("cam-1", offer.sha256, 0, 1024)))[0])
        assert impostor.status == "device_mismatch"
        past_end = decode_reply(cam1.ask(encode_chunk_request(ChunkRequest("cam-1", offer.sha256, len(data), 8)))[0])
        assert past_end.status == "bad_header" and "past the end" in past_end.detail

        assert cam1.report(1, offer.sha256, "downloaded").status == "noted"
        assert cam1.heartbeat(f"{WEIGHTS_ID}@ort-cpu").offer is not None  # not final: still offered
        assert cam1.report(2, offer.sha256, "running").status == "bad_header"  # no such deployment
        assert cam2.report(1, offer.sha256, "running").status == "bad_header"  # cam-1's, not cam-2's
        assert cam1.report(1, offer.sha256, "running").status == "noted"
        assert cam1.heartbeat(f"{offer.model_id}@ort-cpu").offer is None  # the outcome ends the offer
        assert len(cam1.download(offer.sha256, 1024 * 1024)) == len(data)  # a running model may be fetched again

        code, out, _ = cli(capsys, "models", "status", "--data-dir", str(collector_dir), "--json", database=database)
        status = {row["device"]: row for row in json.loads(out)}
        assert status["cam-1"]["model"] == "nano_v2" and status["cam-1"]["deployment"]["state"] == "running"
        assert [r["outcome"] for r in status["cam-1"]["deployment"]["reports"]] == ["downloaded", "running"]
        assert status["cam-2"]["model"] == "nano" and status["cam-2"]["deployment"] is None

        # Rollback: a new active deployment of the model cam-1 ran before.
        code, out, _ = cli(capsys, "models", "rollback", "cam-1", "--data-dir", str(collector_dir), database=database)
        assert code == 0 and out.startswith("deployment 2: rollback of cam-1 to nano")
        back = verified_offer(cam1.heartbeat(f"{offer.model_id}@ort-cpu"), cam1.credentials)
        assert (back.deployment, back.name, back.model_id) == (2, "nano", WEIGHTS_ID)
        assert hashlib.sha256(cam1.download(back.sha256, 256 * 1024)).hexdigest() == back.sha256
        # The superseded deployment's file stays cam-1's (it ran it); cam-2 still gets nothing.
        refused = decode_reply(cam2.ask(encode_chunk_request(ChunkRequest("cam-2", back.sha256, 0, 1024)))[0])
        assert refused.status == "model_unavailable"
    finally:
        cam1.close()
        cam2.close()
        running.close()
    with DataDir.open_readonly(collector_dir, database) as store:
        by_code = store.stats()["rejections"]["by_code"]
    assert by_code["model_unavailable"] == 2 and by_code["device_mismatch"] == 1 and by_code["bad_header"] == 3


def _models_json(capsys, data_dir, database) -> str:
    assert collector(["models", "list", "--data-dir", str(data_dir), "--json"]
                     + (["--database", database] if database else [])) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_shadow_offers_carry_the_sample_rate_and_reports_give_the_agreement(tmp_path, collector_dir, capsys):
    running = ReceiverThread(collector_dir, secure=True)
    cam1 = Device(read_credentials(tmp_path / "cam-1.toml"), running.endpoint)
    try:
        cam1.heartbeat(f"{WEIGHTS_ID}@ort-cpu")
        code, out, _ = cli(capsys, "models", "deploy", "nano_v2", "--device", "cam-1", "--shadow", "--shadow-every",
                           "5", "--data-dir", str(collector_dir))
        assert code == 0 and "(shadow, on 1 in 5 kept frames) to cam-1" in out
        offer = verified_offer(cam1.heartbeat(f"{WEIGHTS_ID}@ort-cpu"), cam1.credentials)
        assert (offer.mode, offer.shadow_every) == ("shadow", 5)
        for matched in (3, 8):  # the agreement so far, reported again and again
            agreement = {"frames": 4 * matched, "current_boxes": 10, "candidate_boxes": 10, "matched_boxes": matched}
            assert cam1.report(offer.deployment, offer.sha256, "shadowing", agreement=agreement).status == "noted"
        assert cam1.heartbeat(f"{WEIGHTS_ID}@ort-cpu").offer is None
        # A message off the contract is a typed rejection, counted like any other.
        [raw] = cam1.ask([b'{"v": 1, "type": "model_report", "device": "cam-1", "deployment": 1}'])
        assert decode_reply(raw).status == "bad_header"
    finally:
        cam1.close()
        running.close()
    code, out, _ = cli(capsys, "models", "status", "--data-dir", str(collector_dir), "--device", "cam-1", "--json")
    [row] = json.loads(out)
    assert row["shadow"]["agreement"]["matched_boxes"] == 8 and row["shadow"]["agreement_ratio"] == 0.8
    assert [r["outcome"] for r in row["deployment"]["reports"]] == ["shadowing"]  # one row, updated
    code, out, _ = cli(capsys, "models", "status", "--data-dir", str(collector_dir))
    assert "shadow deployment 1: nano_v2 agrees 0.800 with the running model on 32 frames" in out
    code, out, _ = cli(capsys, "models", "list", "--data-dir", str(collector_dir))
    assert "deployment 1 to cam-1 (shadow, deploy): shadowing" in out


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_multi_camera_agent_gets_its_offer_with_its_cameras_heartbeats(tmp_path, collector_dir, capsys):
    KeyStore(collector_dir).add_device("site-1", "tcp://127.0.0.1:0", tmp_path / "site-1.toml")
    running = ReceiverThread(collector_dir, secure=True)
    site = Device(read_credentials(tmp_path / "site-1.toml"), running.endpoint)
    try:
        for camera in ("site-1/gate", "site-1/yard"):
            assert site.heartbeat(f"{WEIGHTS_ID}@ort-cpu", device=camera).offer is None
        code, _, err = cli(capsys, "models", "deploy", "nano_v2", "--device", "site-1/gate", "--data-dir",
                           str(collector_dir))
        assert code == 2 and "'site-1/gate' is a camera of agent 'site-1', whose cameras share one model" in err
        code, out, _ = cli(capsys, "models", "deploy", "nano_v2", "--all", "--data-dir", str(collector_dir), "--json")
        deployments = {d["device"]: d for d in json.loads(out)["deployments"]}
        assert sorted(deployments) == ["cam-1", "cam-2", "site-1"]  # the agent, not each camera
        assert deployments["site-1"]["previous_model_id"] == WEIGHTS_ID
        offer = verified_offer(site.heartbeat(f"{WEIGHTS_ID}@ort-cpu", device="site-1/yard"), site.credentials)
        assert offer.device == "site-1" and offer.deployment == deployments["site-1"]["id"]
        assert hashlib.sha256(site.download(offer.sha256, 512 * 1024)).hexdigest() == offer.sha256
        assert site.report(offer.deployment, offer.sha256, "running").status == "noted"
        assert site.heartbeat(f"{offer.model_id}@ort-cpu", device="site-1/gate").offer is None
    finally:
        site.close()
        running.close()
    code, out, _ = cli(capsys, "models", "status", "--device", "site-1", "--data-dir", str(collector_dir), "--json")
    [row] = json.loads(out)
    assert row["cameras"] == ["site-1/gate", "site-1/yard"] and row["model"] == "nano_v2"
    assert row["deployment"]["state"] == "running"


def test_a_canary_takes_its_share_of_the_devices_at_least_one_the_same_each_time():
    devices = [f"cam-{i:02}" for i in range(10)]
    assert len(canary_pick(devices, "a" * 64, 10)) == 1 and len(canary_pick(devices, "a" * 64, 25)) == 3
    assert len(canary_pick(devices, "a" * 64, 1)) == 1 and canary_pick(devices, "a" * 64, 100) == devices
    assert canary_pick(devices, "a" * 64, 30) == canary_pick(list(reversed(devices)), "a" * 64, 30)
    picks = {tuple(canary_pick(devices, sha * 64, 10)) for sha in "0123456789abcdef"}
    assert len(picks) > 1  # each model's canaries are not always the same camera


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_deploy_all_with_a_canary_picks_and_prints_that_share_of_known_devices(tmp_path, collector_dir, capsys):
    with DataDir.open(collector_dir) as store:
        for i in range(8):
            store.record_status(DeviceStatus(f"site-{i}", 1.0, f"{WEIGHTS_ID}@ort-cpu"))
    known = sorted(["cam-1", "cam-2"] + [f"site-{i}" for i in range(8)])  # keys and heartbeats
    code, out, _ = cli(capsys, "models", "deploy", "nano_v2", "--all", "--canary", "20%", "--data-dir",
                       str(collector_dir), "--json")
    assert code == 0
    result = json.loads(out)
    picked = [d["device"] for d in result["deployments"]]
    assert result["candidates"] == 10 and len(picked) == 2 and set(picked) <= set(known)
    sha256 = next(m for m in json.loads(_models_json(capsys, collector_dir, None)) if m["name"] == "nano_v2")["sha256"]
    assert picked == canary_pick(known, sha256, 20)
    assert {d["kind"] for d in result["deployments"]} == {"canary"}
    assert all(d["previous_model_id"] == WEIGHTS_ID for d in result["deployments"] if d["device"].startswith("site"))
    code, out, _ = cli(capsys, "models", "deploy", "nano_v2", "--all", "--canary", "20", "--data-dir",
                       str(collector_dir))
    assert out.splitlines()[0] == f"canary: 2 of 10 device(s) (20%): {', '.join(picked)}"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("args, message", [
    (["deploy", "nope", "--device", "cam-1"], "no model named 'nope' is registered"),
    (["deploy", "nano_v2", "--device", "cam-9"], "unknown device 'cam-9': it sent no heartbeat and has no key"),
    (["deploy", "nano_v2", "--device", "cam-1", "--shadow-every", "3"], "--shadow-every goes with --shadow"),
    (["deploy", "nano_v2", "--all", "--canary", "0"], "--canary must be a percentage in (0, 100]"),
    (["rollback", "cam-1"], "device 'cam-1' has no running or pending deployment to roll back"),
    (["rollback", "cam-9", "--to", "nano"], "unknown device 'cam-9'"),
    (["status", "--device", "cam-9"], "unknown device 'cam-9'"),
])
def test_rollout_commands_refuse_in_one_line(collector_dir, capsys, args, message):
    code, _, err = cli(capsys, "models", *args, "--data-dir", str(collector_dir))
    assert code == 2 and err.startswith("edgelabel-collector models: error: ") and message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_rollback_needs_a_registered_previous_model(tmp_path, collector_dir, capsys):
    with DataDir.open(collector_dir) as store:
        store.record_status(DeviceStatus("cam-1", 1.0, "homemade-0badcafe@ort-cpu"))
    assert cli(capsys, "models", "deploy", "nano", "--device", "cam-1", "--data-dir", str(collector_dir))[0] == 0
    code, _, err = cli(capsys, "models", "rollback", "cam-1", "--data-dir", str(collector_dir))
    assert code == 2 and "ran homemade-0badcafe before deployment 1, which is not registered" in err
    code, out, _ = cli(capsys, "models", "rollback", "cam-1", "--to", "nano_v2", "--data-dir", str(collector_dir))
    assert code == 0 and out.startswith("deployment 2: rollback of cam-1 to nano_v2")


def test_credentials_carry_the_signing_key_and_old_ones_get_it_added(tmp_path, capsys):
    data_dir = tmp_path / "data"
    keys = KeyStore(data_dir)
    issued = keys.add_device("cam-1", "tcp://127.0.0.1:0", tmp_path / "cam-1.toml")
    pair = keys.model_signing_keys(create=False)
    assert issued.model_signing_key == pair.public and len(pair.public) == 64
    assert stat.S_IMODE(keys.signing_file.stat().st_mode) == 0o600
    assert read_credentials(tmp_path / "cam-1.toml").model_signing_key == pair.public
    # A file issued before rollouts existed: the same device, no signing key.
    write_credentials(tmp_path / "old.toml", replace(issued, model_signing_key=""))
    assert collector(["keys", "show-signing-key", "--data-dir", str(data_dir), "--add-to",
                      str(tmp_path / "old.toml")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == pair.public and "model_signing_key written" in out[1]
    assert read_credentials(tmp_path / "old.toml") == issued
    assert stat.S_IMODE((tmp_path / "old.toml").stat().st_mode) == 0o600
    # Another collector's credentials are refused, in one line.
    elsewhere = KeyStore(tmp_path / "other")
    elsewhere.add_device("cam-x", "tcp://127.0.0.1:0", tmp_path / "x.toml")
    assert collector(["keys", "show-signing-key", "--data-dir", str(data_dir), "--add-to", str(tmp_path / "x.toml")]) == 2
    err = capsys.readouterr().err
    assert "names other collectors' keys" in err and err.count("\n") == 1
