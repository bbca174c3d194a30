"""The rollout's parts on their own: resumable download over a real CURVE socket, the model
store's state, shadow agreement counts and the smoke test's checks."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.contract.credentials import read_credentials
from edge.contract.downloads import sha256_of
from edge.contract.rollout import DEFAULT_CHUNK_BYTES
from edge.detection.model_file import model_id
from edge.detection.runner import Detector
from edge.frame_detections import Detections
from edge.rollout.agreement import Agreement, matched_pairs
from edge.rollout.channel import RolloutChannel
from edge.rollout.download import DownloadFailed, download
from edge.rollout.offers import OfferRefused, verify_offer
from edge.rollout.smoke import SmokeTestFailed, smoke_test
from edge.rollout.store import STATE_FILE, ModelStore
from tests.conftest import MODEL_PATH
from tests.edge.rollout_double import RolloutCollector, offer_for, public_hex, signed
from tests.edge.rollout_models import nan_variant


@pytest.fixture
def collector():
    double = RolloutCollector()
    yield double
    double.close()


def channel_to(collector, tmp_path) -> RolloutChannel:
    credentials = read_credentials(collector.credentials(tmp_path / "cam.toml"))
    return RolloutChannel(lambda: collector.endpoint, credentials, timeout_s=2.0, attempts=2)


def test_a_download_resumes_from_its_partial_file(collector, tmp_path):
    collector.serve_file(MODEL_PATH)
    offer = offer_for(MODEL_PATH, deployment=1)
    partial, target = tmp_path / "m.onnx.partial", tmp_path / "m.onnx"
    done = 3 * DEFAULT_CHUNK_BYTES + 1000  # an earlier attempt stopped here
    partial.write_bytes(MODEL_PATH.read_bytes()[:done])
    channel = channel_to(collector, tmp_path)
    try:
        fetched = download(channel, offer, partial, target)
    finally:
        channel.close()
    assert fetched == offer.size_bytes - done
    assert collector.chunks_served[offer.sha256] == -(-(offer.size_bytes - done) // DEFAULT_CHUNK_BYTES)
    assert sha256_of(target) == offer.sha256 and not partial.exists()


def test_a_model_the_collector_does_not_serve_fails_the_download(collector, tmp_path):
    channel = channel_to(collector, tmp_path)
    try:
        with pytest.raises(DownloadFailed, match="model_unavailable"):
            download(channel, offer_for(MODEL_PATH, deployment=1), tmp_path / "p", tmp_path / "t")
    finally:
        channel.close()


def test_the_store_keeps_the_current_and_previous_models_and_survives_a_bad_state_file(tmp_path):
    store = ModelStore(tmp_path / "models")
    offer = offer_for(MODEL_PATH, deployment=4)
    assert store.have(offer) is None
    # Accepting a first model adopts the file the agent ran until then as the previous one.
    renamed = tmp_path / "started_with.onnx"
    renamed.write_bytes(MODEL_PATH.read_bytes())
    store.file_for(offer).parent.mkdir(parents=True)
    store.file_for(offer).write_bytes(MODEL_PATH.read_bytes())
    store.accept(offer, running=renamed)
    reread = ModelStore(tmp_path / "models")
    assert (reread.current.deployment, reread.current.model_id) == (4, model_id(MODEL_PATH))
    assert (reread.previous.file_name, reread.previous.deployment) == ("started_with.onnx", 0)
    assert reread.outcome(4) == "running" and reread.outcome(5) is None
    # The same bytes offered under another name are found, and copied to that name (the id's stem).
    other = offer_for(renamed, deployment=5)
    assert other.sha256 == offer.sha256
    assert reread.have(other) == reread.file_for(other) and reread.file_for(other).is_file()
    (tmp_path / "models" / STATE_FILE).write_text("{not json")
    assert ModelStore(tmp_path / "models").current is None  # logged; the agent starts on --model
    assert json.loads(json.dumps(reread.describe()))["current"]["deployment"] == 4


def boxes(*rows) -> Detections:
    rows = np.array(rows, np.float32).reshape(-1, 6)
    return Detections.from_arrays(rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int64))


def test_agreement_matches_boxes_one_to_one_at_iou_half_with_the_same_class_name():
    # Current model: a person, a car, a person (names person, car).
    current = boxes([0, 0, 10, 10, 0.9, 0], [20, 20, 30, 30, 0.9, 1], [50, 50, 60, 60, 0.9, 0])
    # Candidate (names car, person): the first person again (another class id, the same name: a
    # match), the car shifted by 2 px (IoU 80 / 120 = 0.67: a match), a person exactly on the car
    # (another class: none), and the first person twice more (each box matches once: none).
    candidate = boxes([0, 0, 10, 10, 0.8, 1], [22, 20, 32, 30, 0.8, 0], [20, 20, 30, 30, 0.8, 1],
                      [0, 0, 10, 10, 0.7, 1])
    agreement = Agreement()
    agreement.add(current, ["person", "car"], candidate, ["car", "person"])
    assert agreement.counts == {"frames": 1, "current_boxes": 3, "candidate_boxes": 4, "matched_boxes": 2}
    # A box shifted by 4 px of 10 (IoU 60 / 140 = 0.43) is below 0.5: no match.
    assert matched_pairs(current.xyxy[:1], ["a"], np.array([[4, 0, 14, 10]], np.float32), ["a"]) == 0
    assert matched_pairs(current.xyxy, ["a"] * 3, candidate.xyxy[:0], []) == 0


class _Fixed:
    """A detector stand-in with a fixed output: what the smoke test is given to judge."""

    class_names = ("person",)

    def __init__(self, result):
        self.result = result

    def detect_many(self, images):
        if isinstance(self.result, Exception):
            raise self.result
        return [self.result for _ in images]


@pytest.mark.parametrize("result, problem", [
    (boxes([0, 0, np.nan, 10, 0.5, 0]), "non-finite"),
    (boxes([0, 0, 700, 10, 0.5, 0]), "outside the frame"),
    (boxes([0, 0, 10, 10, 0.5, 3]), "class ids"),
    (RuntimeError("shape mismatch in node 7"), "shape mismatch"),
])
def test_the_smoke_test_refuses_malformed_output(result, problem):
    with pytest.raises(SmokeTestFailed, match=problem):
        smoke_test(_Fixed(result), [np.zeros((480, 640, 3), np.uint8)])


def test_the_smoke_test_passes_the_real_model_and_refuses_one_that_outputs_nan(tmp_path):
    import cv2

    from tests.conftest import DATA_DIR

    image = cv2.imread(str(DATA_DIR / "mot" / "TUD-Campus" / "img1" / "000001.jpg"))
    detector = Detector(MODEL_PATH, threads=1)
    assert smoke_test(detector, [image], model=detector) > 0
    # NaN scores pass no threshold: the boxes alone look fine (none), the raw output does not.
    broken = Detector(nan_variant(tmp_path), threads=1)
    assert smoke_test(broken, [image]) == 0
    with pytest.raises(SmokeTestFailed, match="non-finite values"):
        smoke_test(broken, [image], model=broken)
    with pytest.raises(SmokeTestFailed, match="no recent kept frame"):
        smoke_test(_Fixed(boxes()), [])


def test_the_models_command_shows_the_store(tmp_path):
    store = ModelStore(tmp_path / "spool" / "models")
    offer = offer_for(MODEL_PATH, deployment=4)
    store.file_for(offer).parent.mkdir(parents=True)
    store.file_for(offer).write_bytes(MODEL_PATH.read_bytes())
    store.accept(offer)
    shown = subprocess.run([sys.executable, "-m", "edge", "models", "--spool-dir", str(tmp_path / "spool"), "--json"],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["current"]["model_id"] == model_id(MODEL_PATH)
    store.file_for(offer).unlink()
    shown = subprocess.run([sys.executable, "-m", "edge", "models", "--model-store", str(store.directory)],
                           capture_output=True, text=True, timeout=60)
    assert f"current: {model_id(MODEL_PATH)}" in shown.stdout and "FILE MISSING" in shown.stdout
    assert "previous: none" in shown.stdout
    missing = subprocess.run([sys.executable, "-m", "edge", "models", "--model-store", str(tmp_path / "nowhere")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no model store" in missing.stderr


def test_an_offer_is_verified_against_the_credentials_key_and_device():
    key = Ed25519PrivateKey.generate()
    public = public_hex(key)
    offer = signed(offer_for(MODEL_PATH, deployment=1), key)
    verify_offer(offer, public, {"cam", "cam/gate"})  # signed by the key, for this agent
    verify_offer(signed(offer_for(MODEL_PATH, deployment=1, device="cam/gate"), key), public, {"cam", "cam/gate"})
    refusals = [
        (offer, "", "no model_signing_key"),  # credentials from before rollouts
        (dataclasses.replace(offer, signature=""), public, "unsigned"),
        (signed(offer_for(MODEL_PATH, deployment=1), Ed25519PrivateKey.generate()), public, "does not verify"),
        (dataclasses.replace(offer, deployment=2), public, "does not verify"),  # a field changed after signing
        (offer, public_hex(Ed25519PrivateKey.generate()), "does not verify"),
        (signed(offer_for(MODEL_PATH, deployment=1, device="elsewhere"), key), public, "elsewhere"),
    ]
    for candidate, signing_key, why in refusals:
        with pytest.raises(OfferRefused, match=why):
            verify_offer(candidate, signing_key, {"cam", "cam/gate"})
