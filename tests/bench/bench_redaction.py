"""Benchmark: what redaction on the device hides, what it keeps, and what it costs the agent.

In one run:
  * face recall: CenterFace's faces in the original frames (TUD-Campus, the night-street clip), and
    in the same frames redacted (each style, default settings: the redactor looks at score 0.25)
    and JPEG-encoded as the agent sends them, both counted at CenterFace's 0.3: the share still
    found should be at most 5 %;
  * person recall: YOLOX-Nano's confident people (score >= 0.5) of the original found again (IoU 0.5)
    on the redacted JPEG: at least 95 %;
  * agent fps: ``edgelabel-agent run`` against a real collector process, with and without
    ``--redact faces``, alternating round by round, on pets09 and on the night-street clip
    (default budget); the ratio with/without is the cost (target: at most 5 % lost).
CenterFace is the only face model measured: OpenCV's YuNet file could not be fetched here.

    python tests/bench/bench_redaction.py [--rounds 3] [--pets-frames 0] [--face-frames 15]

Not a test: the machine is shared and noisy, so read the medians and the ratios.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from edge.config import REDACTION_STYLES, RedactionConfig  # noqa: E402
from edge.contract.boxes import iou_xyxy  # noqa: E402
from edge.detection.runner import Detector  # noqa: E402
from edge.jpeg import encode_jpeg  # noqa: E402
from edge.redaction.centerface import CenterFace  # noqa: E402
from edge.redaction.face_model import resolve_face_model  # noqa: E402
from edge.redaction.redactor import Redactor  # noqa: E402
from tests.conftest import DATA_DIR, MODEL_PATH  # noqa: E402
from tests.helpers import start_collector  # noqa: E402

PETS09 = DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"
NIGHT = DATA_DIR / "videos" / "street_night_crowd_mmtracking_demo_8frames.mp4"
TUD = DATA_DIR / "mot" / "TUD-Campus" / "img1"
PERSON, CONFIDENT = 0, 0.5


def video_frames(path: Path, limit: int = 0) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while not limit or len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def recall(face_frames: int) -> dict:
    faces = CenterFace(resolve_face_model())
    detector = Detector(MODEL_PATH)
    sets = {"tud": [cv2.imread(str(p)) for p in sorted(TUD.glob("*.jpg"))[:face_frames]], "night": video_frames(NIGHT)}
    result = {}
    for style in REDACTION_STYLES:
        redactor = Redactor(RedactionConfig(targets=("faces",), style=style), detector.class_names)
        for name, images in sets.items():
            counts = {"faces_before": 0, "faces_after": 0, "people": 0, "people_kept": 0}
            for image in images:
                labels = detector.detect(image)
                redacted, _ = redactor.redact(image, labels)
                sent = cv2.imdecode(np.frombuffer(encode_jpeg(redacted), np.uint8), cv2.IMREAD_COLOR)
                counts["faces_before"] += len(faces.detect(image))
                counts["faces_after"] += len(faces.detect(sent))
                original = labels.xyxy[(labels.class_id == PERSON) & (labels.confidence >= CONFIDENT)]
                found = detector.detect(sent)
                again = found.xyxy[found.class_id == PERSON]
                counts["people"] += len(original)
                if len(original) and len(again):
                    counts["people_kept"] += int((iou_xyxy(original, again).max(axis=1) >= 0.5).sum())
            counts["face_share_left"] = counts["faces_after"] / max(1, counts["faces_before"])
            counts["person_recall"] = counts["people_kept"] / max(1, counts["people"])
            result[f"{style}/{name}"] = counts
            print(f"{style:9s} {name:6s} faces {counts['faces_before']:4d} -> {counts['faces_after']:3d} "
                  f"({100 * counts['face_share_left']:.1f} % left)   people {counts['people_kept']}/{counts['people']} "
                  f"({100 * counts['person_recall']:.1f} %)", flush=True)
    return result


def agent_fps(source: Path, endpoint: str, redact: bool, spool: Path, extra: list[str]) -> dict:
    command = [sys.executable, "-m", "edge", "run", "--source", str(source), "--model", str(MODEL_PATH), "--insecure",
               "--collector", endpoint, "--spool-dir", str(spool), "--json", "-q", *extra]
    if redact:
        command += ["--redact", "faces"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"agent failed: {result.stderr.strip()}")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return {"fps": summary["fps"], "selected": summary["selected"], "frames": summary["frames_read"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pets-frames", type=int, default=0, help="first N pets09 frames only (0: all 795)")
    parser.add_argument("--face-frames", type=int, default=15, help="TUD-Campus frames for the recall part")
    parser.add_argument("--skip-recall", action="store_true")
    args = parser.parse_args()

    report = {"recall": {} if args.skip_recall else recall(args.face_frames), "fps": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = {"pets09": (PETS09, []), "night": (NIGHT, [])}
        if args.pets_frames:
            folder = tmp / "pets09"
            folder.mkdir()
            for index, frame in enumerate(video_frames(PETS09, args.pets_frames)):
                cv2.imwrite(str(folder / f"{index:06d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
            sources["pets09"] = (folder, ["--image-fps", "10"])
        collector, endpoint = start_collector(tmp / "collector", "tcp://127.0.0.1:*", "--insecure")
        try:
            runs: dict[str, list[dict]] = {}
            for round_number in range(args.rounds):
                for name, (source, extra) in sources.items():
                    for redact in (False, True):
                        key = f"{name}/{'redact' if redact else 'plain'}"
                        run = agent_fps(source, endpoint, redact, tmp / f"spool-{key.replace('/', '-')}", extra)
                        runs.setdefault(key, []).append(run)
                        print(f"round {round_number + 1} {key:15s} {run['fps']:7.2f} fps, {run['selected']} kept "
                              f"of {run['frames']}", flush=True)
        finally:
            collector.send_signal(signal.SIGTERM)
            collector.wait(timeout=30)
    print()
    print(f"{'source':8s} {'plain fps':>10s} {'redact fps':>11s} {'ratio':>7s}")
    for name in sources:
        plain = statistics.median(r["fps"] for r in runs[f"{name}/plain"])
        redacted = statistics.median(r["fps"] for r in runs[f"{name}/redact"])
        report["fps"][name] = {"plain": plain, "redact": redacted, "ratio": redacted / plain if plain else None,
                               "kept": runs[f"{name}/redact"][0]["selected"], "frames": runs[f"{name}/redact"][0]["frames"]}
        print(f"{name:8s} {plain:10.2f} {redacted:11.2f} {redacted / plain:7.3f}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
