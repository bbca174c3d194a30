"""``edgelabel-collector demo``: a collector and an agent on a sample clip, end to end.

The demo runs the real thing: a collector process with CURVE on, a device key made for the demo,
and an agent process running the YOLOX-Nano detector on a real clip. The clip and the model are
downloaded once from pinned URLs (SHA-256 checked) into the cache, the clip here and the model by
the agent, which resolves the known name itself; offline, the user is told in one line how to pass
a local clip and model instead.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

from edge.contract.downloads import FetchError, default_cache_dir, fetch_pinned
from server.datadir import DataDir
from server.errors import CollectorError
from server.keys import KeyStore

# PETS 2009 S2.L1 (OpenCV's vtest sample) re-encoded to 480x360 H.264, 795 frames at 10 fps.
SAMPLE_CLIP_URL = (
    "https://raw.githubusercontent.com/tiodh/Computer-Vision-motion/"
    "456dbca90c7d6d82bce9124a56e56e7b898cd252/vtest.mp4"
)
SAMPLE_CLIP_SHA256 = "1aebe1d531f7d0e5a3d1e668676d0ac9b75a0570f4dd99929418e973d3900933"
DEMO_MODEL = "yolox-nano"
"""A model name the agent knows: it downloads the pinned weights on first use."""
DEMO_DEVICE = "demo-cam"
DEMO_REVIEWER = "demo"
OFFLINE_HINT = "offline? run the demo on local files: edgelabel-collector demo --source CLIP.mp4 --model yolox_nano.onnx"


def run_demo(source: str | None, model: str | None, data_dir: Path, port: int = 0, wait: bool = True) -> int:
    try:
        clip = source or str(fetch_pinned(
            SAMPLE_CLIP_URL, SAMPLE_CLIP_SHA256, default_cache_dir() / f"pets09_vtest-{SAMPLE_CLIP_SHA256[:8]}.mp4",
            offline_hint=OFFLINE_HINT,
        ))
    except FetchError as exc:
        raise CollectorError(str(exc)) from None
    model = model or DEMO_MODEL

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    credentials = data_dir / "demo" / f"{DEMO_DEVICE}.toml"
    keys = KeyStore(data_dir)
    # Port 0 lets the collector pick a free port; the agent is told the bound one with --collector.
    endpoint = f"tcp://127.0.0.1:{port or '*'}"
    if DEMO_DEVICE not in keys.devices() or not credentials.exists():
        if DEMO_DEVICE in keys.devices():
            keys.remove_device(DEMO_DEVICE)
        credentials.parent.mkdir(parents=True, exist_ok=True)
        keys.add_device(DEMO_DEVICE, f"tcp://127.0.0.1:{port or 5555}", credentials)

    print(f"[demo] collector data directory: {data_dir}", flush=True)
    password = _demo_reviewer(data_dir)
    collector = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--data-dir", str(data_dir), "--ingest", endpoint,
         "--http", "127.0.0.1:0"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        bound = _wait_for_listening(collector)
        review_url = collector.stdout.readline().split()[-1]  # "review API on URL" follows the listening line
        print(f"[demo] collector listening on {bound} with CURVE; agent {DEMO_DEVICE!r} starts on {clip}", flush=True)
        agent = subprocess.run(
            [sys.executable, "-m", "edge", "run", "--source", clip, "--model", model,
             "--credentials", str(credentials), "--collector", bound, "--json",
             "--spool-dir", str(data_dir / "demo" / "spool")],
            stdout=subprocess.PIPE, text=True,
        )
        if agent.returncode not in (0, 1) or not agent.stdout.strip():
            raise CollectorError(f"the demo agent failed (exit code {agent.returncode}); see its messages above")
        summary = json.loads(agent.stdout.strip().splitlines()[-1])
        with DataDir.open_readonly(data_dir) as store:
            stats = store.stats()
        print(
            f"[demo] agent read {summary['frames_read']} frames at {summary['fps']} fps, selected {summary['selected']}, "
            f"the collector acknowledged {summary['acknowledged']}.\n"
            f"[demo] the collector now holds {stats['totals']['frames']} frames with "
            f"{stats['totals']['detections']} pre-labels.\n"
            f"[demo] database: {data_dir / 'edgelabel.db'}\n"
            f"[demo] images:   {data_dir / 'media'}\n"
            f"[demo] look inside: edgelabel-collector stats --data-dir {data_dir}\n"
            f"[demo] review the frames in a browser: {review_url}/login as {DEMO_REVIEWER!r}, password {password!r}",
            flush=True,
        )
        if wait:
            _wait_for_the_user()
    finally:
        collector.send_signal(signal.SIGTERM)
        try:
            collector.wait(timeout=30)
        except subprocess.TimeoutExpired:
            collector.kill()
    return agent.returncode


def _wait_for_the_user() -> None:
    """Keep the review UI up: until Enter on a terminal, else (a script, a container, ``nohup``)
    until SIGTERM or SIGINT, rather than ending at once and leaving a dead address printed."""
    if sys.stdin.isatty():
        print("[demo] the review UI stays up until you press Enter", flush=True)
        sys.stdin.readline()
        return
    print(f"[demo] the review UI stays up until this process gets SIGTERM or SIGINT (kill {os.getpid()})",
          flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1.0):  # a timed wait, so the signal handler gets to run
        pass


def _demo_reviewer(data_dir: Path) -> str:
    """A fresh password for the demo's admin account (made anew each run: only the printed one works)."""
    from server.auth.accounts import Accounts

    password = secrets.token_urlsafe(12)
    DataDir.open(data_dir).close()  # the accounts table comes with the schema
    with Accounts.open(data_dir) as accounts:
        if DEMO_REVIEWER in {a["name"] for a in accounts.list()}:
            accounts.remove(DEMO_REVIEWER)
        accounts.add(DEMO_REVIEWER, "admin", password)
    return password


def _wait_for_listening(collector: subprocess.Popen, timeout_s: float = 30.0) -> str:
    """The endpoint the collector bound, from its first stdout line."""
    ready, _, _ = select.select([collector.stdout], [], [], timeout_s)
    line = collector.stdout.readline() if ready else ""
    if not line.startswith("listening on "):
        collector.kill()
        raise CollectorError(f"the demo collector did not start (exit code {collector.poll()})")
    return line.split()[2]
