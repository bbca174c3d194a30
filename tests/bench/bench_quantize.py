"""Benchmark: is int8 worth it for the shared YOLOX-Nano on this machine? Float vs int8 variants.

For the float model and each int8 variant, in one run:
  * latency: median ms per 416x416 inference, 2 threads, CPU; all models interleaved run by run
    so background load hits them alike, and reported as a ratio to float (speedup > 1 = faster);
  * COCO mAP@0.5:0.95 and AP50 on the 32 COCO images with ground truth in shared/data/coco
    (pycocotools; scores down to 0.001, NMS IoU 0.65, 100 boxes per image, as YOLOX evaluates);
  * agreement: mAP@0.5 of the variant's boxes against the float model's (score >= 0.3) on
    held-out frames of the pets09 clip, as ``edgelabel-agent quantize`` computes it.
Every variant is calibrated on the same frames: calibration frames sampled from pets09 plus the 18
stills in shared/data/images (none of them is a COCO evaluation image or a held-out frame).

    python tests/bench/bench_quantize.py [--runs 100] [--variants qdq-minmax qdq-percentile ...] [--profile]

``--profile`` adds ONNX Runtime's per-operator kernel time of each model (why int8 is not faster).

Targets (issue 3): agreement >= 0.95, COCO mAP loss <= 1.5 points, int8 no slower than float.
Not a test: prints a table and one JSON line; read the medians and ratios, not single runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
MODEL = SHARED / "models" / "yolox_nano.onnx"
CLIP = SHARED / "data" / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"
STILLS = SHARED / "data" / "images"
COCO_DIR = SHARED / "data" / "coco"
sys.path.insert(0, str(REPO))  # run as a script: the shared COCO evaluation lives in tests/

from tests.coco_eval import coco_eval  # noqa: E402

VARIANTS = {
    "qdq-minmax": dict(),
    "qdq-minmax-head-float": dict(exclude_head=True),
    "qdq-percentile": dict(calibration_method="percentile"),
    "qdq-minmax-per-tensor": dict(per_channel=False),
    "qoperator-minmax": dict(quant_format="qoperator"),
    "qdq-a16w8-minmax": dict(activations="uint16"),
}


def coco_map(model_path: Path, threads: int) -> tuple[float, float]:
    """COCO mAP and AP50 of a model on the shared COCO images (pycocotools)."""
    from edge.detection.runner import OnnxDetector

    detector = OnnxDetector(
        model_path, score_threshold=0.001, iou_threshold=0.65, max_detections=100, intra_op_threads=threads
    )
    return coco_eval(detector, COCO_DIR)

def interleaved_latency(paths: list[Path], tensors, threads: int, runs: int) -> list[float]:
    from edge.detection.session import CPU, open_session

    sessions = [open_session(path, threads, [CPU]) for path in paths]
    names = [s.get_inputs()[0].name for s in sessions]
    times: list[list[float]] = [[] for _ in sessions]
    for index in range(runs + 3):
        tensor = tensors[index % len(tensors)]
        for which, session in enumerate(sessions):
            started = time.perf_counter()
            session.run(None, {names[which]: tensor})
            if index >= 3:
                times[which].append((time.perf_counter() - started) * 1000.0)
    return [statistics.median(t) for t in times]


def kernel_ms_by_op(path: Path, tensor, threads: int, runs: int = 20) -> dict[str, tuple[float, int]]:
    """Mean kernel milliseconds per inference and node count, per operator type (ORT's profiler)."""
    import collections

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.gettempdir()) / "bench-quantize-profile")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"],
                                   disabled_optimizers=["WeightBiasQuantization"])  # fmt: skip
    name = session.get_inputs()[0].name
    for _ in range(runs):
        session.run(None, {name: tensor})
    profile = Path(session.end_profiling())
    micros: collections.Counter = collections.Counter()
    calls: collections.Counter = collections.Counter()
    for event in json.loads(profile.read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            micros[event["args"]["op_name"]] += event["dur"]
            calls[event["args"]["op_name"]] += 1
    profile.unlink()
    return {op: (micros[op] / runs / 1000.0, calls[op] // runs) for op, _ in micros.most_common()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--runs", type=int, default=100, help="timed inferences per model (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calibration-frames", type=int, default=100)
    parser.add_argument("--eval-frames", type=int, default=50)
    parser.add_argument("--profile", action="store_true", help="print kernel time per operator type")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("root").setLevel(logging.ERROR)  # ORT's quantizer warns through the root logger

    import onnxruntime

    from edge.detection.letterbox import YOLOX_INPUT, letterbox_as
    from edge.detection.runner import OnnxDetector
    from edge.quantization.calibrate import QuantizeOptions, quantize_int8
    from edge.quantization.compare import PREDICTION_SCORE_THRESHOLD, agreement
    from edge.quantization.frames import sample_frames

    sample = sample_frames(
        str(CLIP), args.calibration_frames, args.eval_frames, 20000, fit_hw=(416, 416), progress=False
    )
    stills = [cv2.imread(str(p)) for p in sorted(STILLS.glob("*.jpg"))]
    calibration = sample.calibration + stills
    tensors = [letterbox_as(image, (416, 416), YOLOX_INPUT).tensor for image in sample.held_out]
    reference = OnnxDetector(MODEL, score_threshold=0.3, intra_op_threads=args.threads)

    rows = [{"variant": "float32", "quantize_s": 0.0, "coco": coco_map(MODEL, args.threads), "agreement": None}]
    paths = [MODEL]
    with tempfile.TemporaryDirectory(prefix="bench-quantize-") as work:
        for name in args.variants:
            out = Path(work) / f"{name}.onnx"
            started = time.perf_counter()
            quantize_int8(
                MODEL, out, calibration, (416, 416), YOLOX_INPUT, QuantizeOptions(**VARIANTS[name]), progress=False
            )
            seconds = time.perf_counter() - started
            int8 = OnnxDetector(
                out, score_threshold=PREDICTION_SCORE_THRESHOLD, intra_op_threads=args.threads, layout="yolox"
            )
            agreed = agreement(reference, int8, sample.held_out)
            rows.append(
                {
                    "variant": name,
                    "quantize_s": seconds,
                    "coco": coco_map(out, args.threads),
                    "agreement": agreed.map50,
                }
            )
            paths.append(out)
            print(f"  {name}: quantized in {seconds:.1f} s", file=sys.stderr)
        latencies = interleaved_latency(paths, tensors, args.threads, args.runs)
        profiles = [kernel_ms_by_op(path, tensors[0], args.threads) for path in paths] if args.profile else []

    float_ms, float_map = latencies[0], rows[0]["coco"][0]
    print(
        f"YOLOX-Nano 416x416, onnxruntime {onnxruntime.__version__}, {args.threads} threads, CPU; "
        f"calibration: {len(sample.calibration)} pets09 frames + {len(stills)} stills; agreement on "
        f"{len(sample.held_out)} held-out pets09 frames; median of {args.runs} interleaved runs"
    )
    print(
        f"{'variant':<24} {'ms/frame':>8} {'speedup':>7} {'COCO mAP':>8} {'Δ points':>8} {'AP50':>6} "
        f"{'agreement':>9} {'quantize s':>10}"
    )
    results = []
    for row, ms in zip(rows, latencies):
        coco, coco50 = row["coco"]
        agreement_text = (
            "ref"
            if row["agreement"] is None and row["variant"] == "float32"
            else ("n/a" if row["agreement"] is None else f"{row['agreement']:.3f}")
        )
        print(
            f"{row['variant']:<24} {ms:>8.2f} {float_ms / ms:>6.2f}x {coco:>8.3f} {100 * (coco - float_map):>+8.1f} "
            f"{coco50:>6.3f} {agreement_text:>9} {row['quantize_s']:>10.1f}"
        )
        results.append(
            {
                "variant": row["variant"],
                "ms_median": round(ms, 3),
                "speedup": round(float_ms / ms, 3),
                "coco_map": round(coco, 4),
                "coco_ap50": round(coco50, 4),
                "agreement_map50": None if row["agreement"] is None else round(row["agreement"], 4),
                "quantize_s": round(row["quantize_s"], 1),
            }
        )
    for row, profile in zip(rows, profiles):
        total = sum(ms for ms, _ in profile.values())
        top = ", ".join(f"{op} {ms:.2f} ms ({nodes})" for op, (ms, nodes) in list(profile.items())[:6])
        print(f"kernel time {row['variant']}: {total:.2f} ms = {top}")
    print(
        json.dumps(
            {
                "bench": "quantize",
                "model": MODEL.name,
                "threads": args.threads,
                "runs": args.runs,
                "onnxruntime": onnxruntime.__version__,
                "results": results,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
