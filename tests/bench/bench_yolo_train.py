"""Ultralytics trains on our YOLO export: one epoch, from scratch, offline.

Run:  python tests/bench/bench_yolo_train.py                 (needs `pip install ultralytics`, CPU is enough)
      python tests/bench/bench_yolo_train.py --epochs 3 --imgsz 640

The suite checks the YOLO export with Datumaro; Ultralytics itself needs torch, too heavy for the
suite, so this script is the check that the export trains as written. A fresh collector gets the
TUD-Campus sequence (71 real frames with MOTChallenge ground-truth tracks; the duplicate filter
keeps 37) imported as verified,
``export yolo`` writes it (one continuous clip: no split keeps every track on one side, so val is
the clip's latest frames and data.yaml says so), and Ultralytics trains a model built from its
own yaml (``yolo11n.yaml``: no weights to download) for ``--epochs`` epochs with
``YOLO_OFFLINE=1``, then validates on the export's val split. Reported: the images and boxes
Ultralytics found in each split, how many it found corrupt, the val split's note, and the
validation metrics (near 0 after one epoch from scratch: the point is that it trains and
validates on held-out frames, not the score). Prints a table and one JSON line; exits 0 without
training, with a message, when Ultralytics is not installed.

Last run (Ultralytics 8.4.190, torch 2.13 on 2 shared CPU cores, yolo11n.yaml, imgsz 320): 30 train
and 7 val images, 157 and 32 boxes, 0 corrupt; 1 epoch in 11 s; val mAP50 0.0 (untrained weights).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from server.datadir import DataDir  # noqa: E402
from server.exports import Selection, export  # noqa: E402
from server.importers import read_dataset  # noqa: E402
from server.importers.importer import import_dataset  # noqa: E402

TUD = REPO.parent / "shared" / "data" / "mot" / "TUD-Campus"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--imgsz", type=int, default=320, help="training image size (default: %(default)s)")
    parser.add_argument("--model", default="yolo11n.yaml", help="an Ultralytics model yaml (built from scratch)")
    args = parser.parse_args()
    os.environ["YOLO_OFFLINE"] = "1"  # before the import: Ultralytics reads it then
    if importlib.util.find_spec("ultralytics") is None:
        print("bench_yolo_train: skipped, Ultralytics is not installed (pip install ultralytics; it brings torch)")
        return 0
    from ultralytics import YOLO

    with tempfile.TemporaryDirectory(prefix="bench-yolo-") as temp:
        temp = Path(temp)
        with DataDir.open(temp / "collector") as store:
            import_dataset(store, read_dataset(TUD), verified=True)
            summary = export(store, "yolo", temp / "yolo", Selection(status="verified"))
        started = time.perf_counter()
        model = YOLO(args.model)
        model.train(data=str(temp / "yolo" / "data.yaml"), epochs=args.epochs, imgsz=args.imgsz, batch=8,
                    device="cpu", workers=0, plots=False, amp=False, pretrained=False, project=str(temp / "runs"),
                    name="train", exist_ok=True, verbose=False)
        seconds = time.perf_counter() - started
        trainer = model.trainer
        splits = {}
        for name, loader in (("train", trainer.train_loader), ("val", trainer.test_loader)):
            labels = loader.dataset.labels
            splits[name] = {"images": len(labels), "boxes": int(sum(len(label["cls"]) for label in labels)),
                            "corrupt": len(loader.dataset.im_files) - len(labels)}
        metrics = {key: round(float(value), 4) for key, value in (trainer.metrics or {}).items()}
    result = {"frames": summary.frames, "boxes": summary.boxes, "export_split": summary.written,
              "notes": summary.notes, "ultralytics": splits, "epochs": args.epochs, "imgsz": args.imgsz,
              "model": args.model, "train_seconds": round(seconds, 1), "val_metrics": metrics}
    print(f"{'split':<6} {'images':>7} {'boxes':>6} {'corrupt':>8}")
    for name, counts in splits.items():
        print(f"{name:<6} {counts['images']:>7} {counts['boxes']:>6} {counts['corrupt']:>8}")
    for note in summary.notes:
        print(f"note: {note}")
    print(f"{args.epochs} epoch(s) in {seconds:.0f} s; val: " + ", ".join(f"{k} {v}" for k, v in metrics.items()))
    print(json.dumps(result, sort_keys=True))
    ok = (splits["train"]["images"] + splits["val"]["images"] == summary.frames and splits["val"]["images"] > 0
          and not splits["train"]["corrupt"] and not splits["val"]["corrupt"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
