"""A scripted reviewer for the model-loop walkthrough: it reviews frames through the collector's
review API (log in, claim, submit) as a person would, deciding from a clip's ground truth.

Per frame it pairs the pre-labels with the ground-truth boxes of the same class (IoU >= 0.5, the
best pairs first). Paired pre-labels are kept as the model drew them; unpaired pre-labels are
deleted; ground-truth boxes nobody drew are added. A frame where nothing had to change is
accepted, any other is corrected. Frames of devices without ground truth are left in the queue.

    python review_from_ground_truth.py --url http://127.0.0.1:8080 --user alice \
        --coco cam-01 coco128/annotations/instances_train2017.json coco128/images/train2017 \
        --mot cam-02 TUD-Campus/gt/gt.txt

The password is read from the REVIEWER_PASSWORD environment variable. ``frame_index`` of a frame
from an image directory is the position of its file in the sorted folder (the agent's order), so
MOTChallenge frame numbers are ``frame_index + 1``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import httpx

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def coco_truth(annotations: Path, images: Path) -> dict[int, list[tuple]]:
    """frame_index -> [(class name, x1, y1, x2, y2)] from a COCO file, by the folder's sorted order."""
    data = json.loads(annotations.read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    by_file = {image["file_name"]: image["id"] for image in data["images"]}
    boxes = defaultdict(list)
    for a in data["annotations"]:
        x, y, w, h = a["bbox"]
        boxes[a["image_id"]].append((names[a["category_id"]], x, y, x + w, y + h))
    files = sorted(p.name for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return {index: boxes.get(by_file.get(name), []) for index, name in enumerate(files)}


def mot_truth(gt: Path) -> dict[int, list[tuple]]:
    """frame_index -> [("person", x1, y1, x2, y2)] from a MOTChallenge gt.txt (frames count from 1)."""
    boxes = defaultdict(list)
    for line in gt.read_text().splitlines():
        frame, _, x, y, w, h, *rest = (float(v) for v in line.split(","))
        if rest and rest[0] == 0:  # a MOT17-style "ignore" row
            continue
        boxes[int(frame) - 1].append(("person", x, y, x + w, y + h))
    return boxes


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def review(frame: dict, truth: list[tuple]) -> tuple[str, list[dict], Counter]:
    """The decision and the boxes to submit for ``frame`` against ``truth``."""
    width, height = frame["width"], frame["height"]
    clipped = []
    for name, x1, y1, x2, y2 in truth:
        box = (max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2))
        if box[2] - box[0] >= 2 and box[3] - box[1] >= 2:
            clipped.append((name, *box))
    detections = frame["detections"]
    pairs = sorted(((iou((d["x1"], d["y1"], d["x2"], d["y2"]), t[1:]), i, j)
                    for i, d in enumerate(detections) for j, t in enumerate(clipped)
                    if d["class_name"] == t[0]), reverse=True)
    kept, matched = {}, set()
    for overlap, i, j in pairs:
        if overlap >= 0.5 and i not in kept and j not in matched:
            kept[i] = j
            matched.add(j)
    boxes = [{"x1": d["x1"], "y1": d["y1"], "x2": d["x2"], "y2": d["y2"], "class_name": d["class_name"],
              "track_id": d["track_id"], "detection_id": d["id"]} for i, d in enumerate(detections) if i in kept]
    added = [t for j, t in enumerate(clipped) if j not in matched]
    boxes += [{"x1": x1, "y1": y1, "x2": x2, "y2": y2, "class_name": name} for name, x1, y1, x2, y2 in added]
    counts = Counter(kept=len(kept), deleted=len(detections) - len(kept), added=len(added))
    if len(kept) == len(detections) and not added:
        return "accept", [], counts
    return "correct", boxes, counts


def log_in(client: httpx.Client, user: str, password: str) -> None:
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = client.post("/login", data={"name": user, "password": password, "csrf_token": token})
    if answer.status_code != 303:
        raise SystemExit(f"login as {user} failed: HTTP {answer.status_code}")
    page = client.get("/review").text
    client.headers["X-CSRF-Token"] = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--coco", nargs=3, action="append", default=[], metavar=("DEVICE", "JSON", "IMAGES"))
    parser.add_argument("--mot", nargs=2, action="append", default=[], metavar=("DEVICE", "GT_TXT"))
    args = parser.parse_args()
    truth = {device: coco_truth(Path(js), Path(images)) for device, js, images in args.coco}
    truth |= {device: mot_truth(Path(gt)) for device, gt in args.mot}
    totals: dict[tuple[str, str], Counter] = defaultdict(Counter)
    skipped: list[int] = []
    with httpx.Client(base_url=args.url, timeout=30) as client:
        log_in(client, args.user, os.environ["REVIEWER_PASSWORD"])
        while (frame := client.post("/api/queue/claim").json()["frame"]) is not None:
            if frame["device"] not in truth:
                skipped.append(frame["id"])
                continue  # keep the claim until the end, so the queue moves on to the next frame
            decision, boxes, counts = review(frame, truth[frame["device"]].get(frame["frame_index"], []))
            body = {"decision": decision, **({"annotations": boxes} if boxes else {})}
            answer = client.post(f"/api/frames/{frame['id']}/submit", json=body)
            if answer.status_code != 200:
                raise SystemExit(f"frame {frame['id']}: submit refused: HTTP {answer.status_code} {answer.text}")
            key = (frame["device"], frame["model_id"].split("@")[0])
            totals[key] += counts + Counter({decision: 1})
        for frame_id in skipped:
            client.post(f"/api/frames/{frame_id}/release")
    for (device, model), counts in sorted(totals.items()):
        print(f"reviewed {device} ({model}): {counts['accept']} accepted, {counts['correct']} corrected; "
              f"pre-labels kept {counts['kept']}, deleted {counts['deleted']}; boxes added {counts['added']}")
    if not totals:
        print("nothing to review")
    return 0


if __name__ == "__main__":
    sys.exit(main())
