"""A store built from real labeled data, through the importers: the shared COCO images with their
COCO boxes (imported as verified) and the TUD-Campus sequence with its MOT ground-truth tracks
(imported as pre-labels; some frames then accepted, corrected or rejected through the review queue)."""

from pathlib import Path

from server.datadir import DataDir
from server.importers import read_dataset
from server.importers.importer import import_dataset
from server.review.queue import ReviewQueue
from tests.server._paths import DATA_DIR

COCO_IMAGES = DATA_DIR / "coco" / "images" / "train2017"
COCO_JSON = DATA_DIR / "coco" / "annotations" / "instances_train2017.json"
TUD = DATA_DIR / "mot" / "TUD-Campus"
COCO_DEVICE, TUD_DEVICE = "import:coco", "import:TUD-Campus"


def build_labeled_store(data_dir: Path) -> dict:
    """Fill ``data_dir``; returns the review decisions taken on TUD frames."""
    with DataDir.open(data_dir) as store:
        import_dataset(store, read_dataset(COCO_IMAGES, annotations=COCO_JSON, name="coco"), verified=True)
        import_dataset(store, read_dataset(TUD))
    decisions = {"accepted": [], "corrected": [], "rejected": []}
    with ReviewQueue.open(data_dir) as queue:
        pending = sorted(f["id"] for f in queue.next(limit=1000) if f["device"] == TUD_DEVICE)
        for number, frame_id in enumerate(pending[:12]):
            frame = queue.claim("alice", frame_id)
            if number == 5:
                queue.submit("alice", frame_id, "reject")
                decisions["rejected"].append(frame_id)
            elif number == 7:  # move every box 2 px right: a correction that keeps the tracks
                boxes = [{"x1": d["x1"] + 2 if d["x2"] + 2 <= frame["width"] else d["x1"], "y1": d["y1"],
                          "x2": min(d["x2"] + 2, frame["width"]), "y2": d["y2"], "class_name": d["class_name"],
                          "track_id": d["track_id"], "detection_id": d["id"]} for d in frame["detections"]]
                queue.submit("alice", frame_id, "correct", annotations=boxes)
                decisions["corrected"].append(frame_id)
            else:
                queue.submit("alice", frame_id, "accept")
                decisions["accepted"].append(frame_id)
    return decisions
