"""The rollout thread: takes the offers the sender hands over and carries each one through.

Active offer: check the signature -> file from the store or downloaded (report ``downloaded``) ->
load with the running detector's settings -> smoke test on recent kept frames -> accept in the
store and swap between frames (report ``running``). Shadow offer: the same up to the smoke test,
then the candidate runs beside the current model on every ``shadow_every``-th kept frame and
``shadowing`` is reported with the agreement at the start, every :data:`SHADOW_REPORT_EVERY`
sampled frames and at the end. A refusal or failure is reported and logged once, and the current
model keeps running. Everything slow happens on this thread, never on the detector's.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from edge.contract.rollout import MAX_DETAIL_CHARS, ModelOffer, ModelReport
from edge.contract.wire import weights_id
from edge.rollout.agreement import Agreement
from edge.rollout.channel import RolloutChannel
from edge.rollout.download import DownloadFailed, HashMismatch, Interrupted, download
from edge.rollout.live import ModelSlot
from edge.rollout.offers import OfferRefused, read_offer, verify_offer
from edge.rollout.recent import RecentFrames
from edge.rollout.smoke import SmokeTestFailed, smoke_test
from edge.rollout.store import ModelStore

log = logging.getLogger("edge.rollout")

SHADOW_REPORT_EVERY = 10
"""Sampled frames between two ``shadowing`` reports."""
FRAMES_WAIT_S = 60.0
"""How long a loaded model waits for a first kept frame to be smoke-tested on."""
INBOX = 16


@dataclass
class _Shadow:
    offer: ModelOffer
    candidate: object
    reference: object
    agreement: Agreement
    reported_at: int = 0


class RolloutManager:
    def __init__(self, *, device: str, devices: Collection[str], signing_key: str, store: ModelStore, channel: RolloutChannel,
                 slot: ModelSlot, load: Callable[[Path], object], wrap: Callable[[object], object],
                 recent: RecentFrames, check: Callable[[object], str] = lambda detector: ""):
        """
        Args:
            device: the agent's device name (reports of offers addressed elsewhere go out under it).
            devices: the names offers may be addressed to (``device`` and its cameras').
            signing_key: the collector's Ed25519 public key (hex) from the credentials; "" refuses all.
            load: a detector for a model file, with the running detector's settings.
            wrap: what the pipeline runs around a detector (tiling), for the smoke test and shadow.
            check: "" when a loaded candidate may replace the current model, else why not
                (e.g. redaction targets a class the candidate names differently).
        """
        self.device = device
        self.devices = frozenset(devices) | {device}
        self.signing_key = signing_key
        self.store = store
        self.channel = channel
        self.slot = slot
        self.load = load
        self.wrap = wrap
        self.recent = recent
        self.check = check
        self.swaps = 0
        self._inbox: queue.Queue = queue.Queue(maxsize=INBOX)
        self._seen: set[tuple] = set()
        self._seen_lock = threading.Lock()
        self._shadow: _Shadow | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rollout", daemon=True)

    # --- called by the sender's thread --------------------------------------------------------------

    def offer(self, doc: dict) -> None:
        """Take an offer from a heartbeat reply; never blocks. Repeats are dropped here: an offer
        is acted on (and a refusal logged) once per run, even if the collector signs it anew."""
        offer = read_offer(doc)
        key = (offer.deployment, offer.sha256, offer.device, offer.mode) if offer else ("malformed",)
        with self._seen_lock:
            if key in self._seen:
                return
            self._seen.add(key)
        if offer is None:
            log.warning("ignoring a model offer that breaks the rollout contract")
            return
        try:
            self._inbox.put_nowait(offer)
        except queue.Full:
            with self._seen_lock:
                self._seen.discard(key)  # taken when it repeats

    # --- the rollout thread --------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():  # still waiting on the collector: the daemon thread ends with the process
            log.warning("the rollout thread is still waiting for the collector; not waiting for it")
            return
        self.channel.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._shadow is not None:
                    self._shadow_step()
                    offer = self._inbox.get_nowait() if not self._inbox.empty() else None
                else:
                    offer = self._inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            if offer is not None:
                try:
                    self._handle(offer)
                except Exception:  # the rollout must never take the agent down; the model stays
                    log.exception("model offer %d failed unexpectedly; keeping %s", offer.deployment,
                                  self.slot.model.model_id)
        if self._shadow is not None:
            self.channel.attempts = 1  # the agent is stopping: one try for the last counts
            self._end_shadow()

    def _handle(self, offer: ModelOffer) -> None:
        try:
            verify_offer(offer, self.signing_key, self.devices)
        except OfferRefused as exc:
            log.warning("refusing model offer %d (%s, %s): %s; keeping %s", offer.deployment, offer.name,
                        offer.model_id, exc, self.slot.model.model_id)
            self._report(offer, "refused_signature", str(exc))
            return
        finished = self.store.outcome(offer.deployment)
        if finished is not None:
            # Finished before (its report lost, e.g. around a restart): say it again, do nothing.
            # (A shadow run does not outlive the agent: nothing to say of it after a restart.)
            if finished != "shadowing":
                self._report(offer, finished, "reported again: the offer came after its outcome")
            return
        if self._shadow is not None:
            self._end_shadow()  # a newer offer replaces the shadow run
        if offer.mode == "active" and weights_id(self.slot.model.model_id) == offer.model_id:
            log.info("model offer %d: %s already runs", offer.deployment, offer.model_id)
            self.store.finish(offer.deployment, "running")
            self._report(offer, "running", "already running")
            return
        path = self._obtain(offer)
        if path is None:
            return
        candidate = self._load(offer, path)
        if candidate is None:
            return
        if offer.mode == "shadow":
            self._start_shadow(offer, candidate)
            return
        self.store.accept(offer, running=self.slot.detector.path)
        previous = self.slot.model.model_id
        self.slot.swap(candidate)
        self.swaps += 1
        log.info("model offer %d: swapped %s for %s (%s) between frames", offer.deployment, previous,
                 candidate.deployed_id, offer.name)
        self._report(offer, "running")

    def _obtain(self, offer: ModelOffer) -> Path | None:
        """The offered file in the store, downloading it unless the store has it intact."""
        path = self.store.have(offer)
        if path is not None:
            log.info("model offer %d: %s is in the model store already", offer.deployment, offer.file_name)
            return path
        log.info("model offer %d (%s): downloading %s, %d bytes", offer.deployment, offer.mode, offer.file_name,
                 offer.size_bytes)
        try:
            download(self.channel, offer, self.store.partial_for(offer), self.store.file_for(offer),
                     stopping=self._stop.is_set)
        except Interrupted as exc:
            log.info("model offer %d: download %s; it continues on the next run", offer.deployment, exc)
            return None
        except HashMismatch as exc:
            self._fail(offer, "refused_hash", str(exc))
            return None
        except (DownloadFailed, OSError) as exc:
            self._fail(offer, "failed_download", str(exc))
            return None
        self._report(offer, "downloaded")
        return self.store.file_for(offer)

    def _load(self, offer: ModelOffer, path: Path):
        """The candidate loaded and smoke-tested, else None (reported)."""
        try:
            candidate = self.load(path)
        except Exception as exc:  # any runtime's load error: the file is not a model this agent can run
            self._fail(offer, "failed_load", str(exc))
            return None
        problem = self.check(candidate)
        if problem:
            self._fail(offer, "failed_load", problem)
            return None
        images = self._recent_images()
        if self._stop.is_set():
            return None  # the agent is stopping; the offer comes again after the restart
        try:
            boxes = smoke_test(self.wrap(candidate), images, model=candidate)
        except SmokeTestFailed as exc:
            self._fail(offer, "failed_smoke_test", str(exc))
            return None
        log.info("model offer %d: %s loaded; smoke test passed on %d recent frame(s) (%d boxes)", offer.deployment,
                 candidate.deployed_id, len(images), boxes)
        return candidate

    def _recent_images(self) -> list:
        deadline = time.monotonic() + FRAMES_WAIT_S
        while not self.recent.images() and time.monotonic() < deadline and not self._stop.is_set():
            time.sleep(0.1)
        return self.recent.images()

    def _fail(self, offer: ModelOffer, outcome: str, detail: str) -> None:
        log.warning("model offer %d (%s): %s: %s; keeping %s", offer.deployment, offer.model_id, outcome, detail,
                    self.slot.model.model_id)
        self.store.discard(offer)
        self.store.finish(offer.deployment, outcome)
        self._report(offer, outcome, detail)

    def _report(self, offer: ModelOffer, outcome: str, detail: str = "", agreement: dict | None = None) -> None:
        # Under the offer's device (one of this agent's cameras), or the agent's own name: the key
        # that sends the report speaks for those only.
        device = offer.device if offer.device in self.devices else self.device
        self.channel.report(ModelReport(device=device, deployment=offer.deployment, sha256=offer.sha256,
                                        outcome=outcome, ts=time.time(), detail=detail[:MAX_DETAIL_CHARS],
                                        agreement=agreement))

    # --- shadow mode ---------------------------------------------------------------------------------

    def _start_shadow(self, offer: ModelOffer, candidate) -> None:
        try:
            reference = self.load(self.slot.detector.path)  # its own instance: this thread's alone
        except Exception as exc:
            self._fail(offer, "failed_load", f"cannot load the current model beside it: {exc}")
            return
        self._shadow = _Shadow(offer, self.wrap(candidate), self.wrap(reference), Agreement())
        self.store.finish(offer.deployment, "shadowing")
        self.recent.sample_every(offer.shadow_every)
        log.info("model offer %d: shadowing %s beside %s on every %d kept frame(s)", offer.deployment,
                 candidate.deployed_id, self.slot.model.model_id, offer.shadow_every)
        self._report(offer, "shadowing", agreement=dict(self._shadow.agreement.counts))

    def _shadow_step(self) -> None:
        image = self.recent.samples.get(timeout=0.2)  # queue.Empty goes to the loop
        shadow = self._shadow
        current = shadow.reference.detect_many([image])[0]
        try:
            candidate = shadow.candidate.detect_many([image])[0]
        except Exception as exc:  # the candidate broke on a live frame: stop shadowing it
            self._end_shadow(f"the candidate failed on a kept frame: {exc}")
            return
        shadow.agreement.add(current, shadow.reference.class_names, candidate, shadow.candidate.class_names)
        frames = shadow.agreement.counts["frames"]
        if frames - shadow.reported_at >= SHADOW_REPORT_EVERY:
            shadow.reported_at = frames
            self._report(shadow.offer, "shadowing", agreement=dict(shadow.agreement.counts))

    def _end_shadow(self, detail: str = "shadow run ended") -> None:
        shadow, self._shadow = self._shadow, None
        self.recent.sample_every(0)
        counts = dict(shadow.agreement.counts)
        log.info("model offer %d: shadow run of %s ended: %s", shadow.offer.deployment, shadow.offer.model_id,
                 counts)
        self._report(shadow.offer, "shadowing", detail, agreement=counts)
