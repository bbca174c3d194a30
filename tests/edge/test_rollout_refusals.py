"""What a real agent refuses or fails to run keeps the old model running, and is reported; a shadow
offer runs beside the current model and reports how far the two agree."""

from __future__ import annotations

import dataclasses

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.contract.rollout import agreement_ratio
from edge.detection.model_file import model_id
from edge.rollout.store import ModelStore
from tests.conftest import MODEL_PATH
from tests.edge.rollout_double import RolloutCollector, offer_for, signed, wait_until
from tests.edge.rollout_models import nan_variant, variant
from tests.edge.test_rollout_swap import start_agent, stop_agent


def test_unsigned_tampered_and_unloadable_models_are_refused_and_the_old_model_keeps_running(tmp_path):
    collector = RolloutCollector()
    v2 = variant(tmp_path)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model, but the bytes the offer names " * 100)
    collector.serve_file(broken)
    nan = nan_variant(tmp_path)
    collector.serve_file(nan)
    tampered = bytearray(v2.read_bytes())
    tampered[len(tampered) // 2] ^= 0x01  # one byte changed on the way
    key = collector.signing_key
    offers = [
        offer_for(v2, deployment=1),  # unsigned
        signed(offer_for(v2, deployment=2), Ed25519PrivateKey.generate()),  # signed by someone else
        signed(offer_for(v2, deployment=3, device="other-cam"), key),  # another device's
        signed(offer_for(v2, deployment=4), key),  # served tampered: the SHA-256 differs
        signed(offer_for(broken, deployment=5), key),  # intact and signed, but no model
        signed(offer_for(nan, deployment=7), key),  # loads, but outputs NaN on the recent frames
    ]
    original = model_id(MODEL_PATH)
    agent = start_agent(tmp_path, collector.credentials(tmp_path / "cam.toml"))
    try:
        wait_until(lambda: len(collector.frames) >= 2, "first frames", process=agent)
        for offer in offers:
            collector.files[offer_for(v2, 0).sha256] = bytes(tampered)
            collector.offer = offer
            wait_until(lambda: any(o != "downloaded" for o in collector.outcomes(offer.deployment)),
                       f"the outcome of deployment {offer.deployment}", process=agent)
        # Shadow: the variant (the same weights) beside the running model, on every kept frame.
        collector.serve_file(v2)
        collector.offer = signed(offer_for(v2, deployment=6, mode="shadow", shadow_every=1), key)
        wait_until(lambda: collector.outcomes(6).count("shadowing") >= 2, "shadow reports", process=agent)
        collector.offer = None
        summary = stop_agent(agent)
    finally:
        if agent.poll() is None:
            agent.kill()
        collector.close()
    log = (tmp_path / "agent.log").read_text()

    assert [collector.outcomes(d) for d in (1, 2, 3)] == [["refused_signature"]] * 3
    assert collector.outcomes(4) == ["refused_hash"]
    assert collector.outcomes(5) == ["downloaded", "failed_load"]
    assert collector.outcomes(7) == ["downloaded", "failed_smoke_test"]
    details = {report.deployment: report.detail for report in collector.reports}
    assert "unsigned" in details[1] and "signature" in details[2] and "other-cam" in details[3]
    assert {report.device for report in collector.reports} == {"cam"}  # (the key speaks for it alone)
    # Each refusal is logged once, although the offer came with several heartbeats.
    assert all(log.count(f"refusing model offer {d} ") == 1 for d in (1, 2, 3))
    # Nothing was swapped: every frame and heartbeat names the model the agent started with.
    assert {model_id.split("@")[0] for model_id in collector.statuses} == {original}
    assert {frame.model_id.split("@")[0] for frame in collector.frames} == {original}
    assert summary["model"].startswith(original) and "model_swaps" not in summary
    assert summary["selected"] == summary["acknowledged"] == len(collector.frames)
    # Shadowing: a report when it starts, every 10 sampled frames, and the last counts at the end.
    assert collector.outcomes(6)[0] == "downloaded"
    shadow = [report.agreement for report in collector.reports if report.deployment == 6 and report.agreement]
    assert shadow[0] == dict.fromkeys(shadow[0], 0) and shadow[1]["frames"] == 10
    assert len(shadow) >= 3 and shadow[-1]["frames"] >= 10 and shadow[-1]["current_boxes"] > 0
    # The same weights on the same frames: every box of one has its twin in the other.
    assert shadow[-1]["matched_boxes"] == shadow[-1]["current_boxes"] == shadow[-1]["candidate_boxes"]
    assert agreement_ratio(shadow[-1]) == 1.0
    store = ModelStore(tmp_path / "spool" / "models")
    assert store.current is None  # nothing accepted: a restart runs --model
    assert not any((store.directory / offer.sha256).exists() for offer in offers[4:])  # failed files are not kept
    assert dataclasses.asdict(offers[0])["signature"] == ""
