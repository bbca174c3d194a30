"""Benchmark: which runtime and precision should pre-label on this CPU? One table, one run.

Rows (the shared YOLOX-Nano, 416x416, the same threads for all):
  * float32 on ONNX Runtime's CPU provider (today's default, the reference);
  * float32 on OpenVINO (INFERENCE_PRECISION_HINT f32) and bf16 on OpenVINO (its CPU default on
    AMX/AVX-512-BF16 machines);
  * int8 on OpenVINO and int8 QDQ on ONNX Runtime, both written by ``edgelabel-agent quantize``
    (NNCF, accuracy control, head in float) with the same calibration footage and budget.
Columns: median ms per frame of the whole detection (letterbox, inference, decode), the models
taking turns in blocks so background load hits all alike; the speed-up over the reference; COCO
mAP@[.5:.95] on COCO128 and on the 32 shared COCO images (pycocotools, YOLOX's evaluation
settings); agreement AP50 with float32 on 100 evenly spaced pets09 frames (as ``quantize``
computes it; pets09 also gave 50 of the calibration frames, so a few may coincide).

Calibration: frames of six shared clips and the stills in shared/data/images (no COCO image).
The quantizer's budget (--max-loss 1) is measured on the 32 shared COCO images; COCO128 is never
seen by the quantizer, so its column is the held-out check of the 1-point target.

    python tests/bench/bench_quantize.py [--runs 200] [--threads 2] [--out-dir DIR]

The int8 models are kept in --out-dir (default: a temporary directory) for bench_agent_fps.py.
Not a test: prints a table and one JSON line; read the medians and ratios, not single runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
MODEL = SHARED / "models" / "yolox_nano.onnx"
VIDEOS = SHARED / "data" / "videos"
PETS09 = VIDEOS / "pets09_s2l1_pedestrians_vtest_480x360.mp4"
CALIBRATION = [PETS09, SHARED / "data" / "images"] + [VIDEOS / name for name in (
    "dashcam_highway_udacity_solidWhiteRight.mp4", "parking_lot_overhead_cars_intel.mp4",
    "indoor_people_one_by_one_intel.mp4", "highway_cam_traffic_bgslibrary_video02.avi")]
COCO32 = SHARED / "data" / "coco"
COCO128 = SHARED / "data" / "coco128"
sys.path.insert(0, str(REPO))  # run as a script: the shared COCO evaluation lives in tests/

from tests.coco_eval import coco_eval  # noqa: E402


def quantize(target: str, out: Path, threads: int) -> dict:
    from edge.commands import quantize as command

    parser = argparse.ArgumentParser()
    command.add_parser(parser.add_subparsers())
    argv = ["quantize", "--model", str(MODEL), "--out", str(out), "--target", target, "--eval", str(COCO32),
            "--threads", str(threads), "--no-progress"]
    for source in CALIBRATION:
        argv += ["--calibration", str(source)]
    started = time.perf_counter()
    try:
        command.run(parser.parse_args(argv))
    except Exception as exc:  # report a refusal in the table rather than stopping the benchmark
        print(f"  {target}: {exc}", file=sys.stderr)
    report = json.loads(out.with_name(f"{out.stem}.report.json").read_text())
    report["seconds"] = time.perf_counter() - started
    return report


def detect_ms(detectors: list, frames: list, runs: int, block: int = 10) -> list[float]:
    """Median ms of ``detect`` per detector, taking turns in blocks of ``block`` frames."""
    times = [[] for _ in detectors]
    for detector in detectors:
        for frame in frames[:3]:
            detector.detect(frame)
    position = 0
    while len(times[-1]) < runs:
        for which, detector in enumerate(detectors):
            for offset in range(block):
                frame = frames[(position + offset) % len(frames)]
                started = time.perf_counter()
                detector.detect(frame)
                times[which].append((time.perf_counter() - started) * 1000.0)
        position += block
    return [statistics.median(samples) for samples in times]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="timed frames per row (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out-dir", type=Path, default=None, help="keep the quantized models here")
    args = parser.parse_args()

    from edge.detection.runner import Detector
    from edge.detection.runtimes import RuntimeSettings
    from edge.quantization.accuracy import PREDICTION_SCORE_THRESHOLD, AgreementMetric

    work = args.out_dir or Path(tempfile.mkdtemp(prefix="bench-quantize-"))
    work.mkdir(parents=True, exist_ok=True)
    reports = {
        "int8 openvino": quantize("openvino", work / "yolox_nano.int8.xml", args.threads),
        "int8 QDQ onnxruntime": quantize("onnxruntime", work / "yolox_nano.qdq.onnx", args.threads),
    }
    ort = RuntimeSettings(name="onnxruntime")
    rows = {
        "float32 onnxruntime": (MODEL, ort),
        "float32 openvino": (MODEL, RuntimeSettings(name="openvino", precision="f32")),
        "bf16 openvino": (MODEL, RuntimeSettings(name="openvino", precision="bf16")),
        "int8 openvino": (work / "yolox_nano.int8.xml", RuntimeSettings(name="openvino", precision="f32")),
        "int8 QDQ onnxruntime": (work / "yolox_nano.qdq.onnx", ort),
    }
    rows = {label: spec for label, spec in rows.items() if spec[0].is_file()}

    capture = cv2.VideoCapture(str(PETS09))
    pets09 = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        pets09.append(image)
    held_out = pets09[4::8][:100]
    reference = Detector(MODEL, threads=args.threads, score_threshold=0.3 * AgreementMetric.NEAR_MISS_FRACTION)
    decoder = Detector(MODEL, threads=args.threads, score_threshold=PREDICTION_SCORE_THRESHOLD)
    agreement = AgreementMetric(reference, decoder, held_out, "pets09", 0.3)

    results = {}
    for label, (path, runtime) in rows.items():
        evaluating = Detector(path, threads=args.threads, runtime=runtime, score_threshold=0.001,
                              iou_threshold=0.65, max_detections=100)
        timed = Detector(path, threads=args.threads, runtime=runtime)
        results[label] = {
            "runtime": timed.runtime.description,
            "coco128": coco_eval(evaluating, COCO128)[0],
            "coco32": coco_eval(evaluating, COCO32)[0],
            "agreement": agreement.score(timed.infer),
            "detector": timed,
        }
        print(f"  measured accuracy of {label}", file=sys.stderr)
    medians = detect_ms([r["detector"] for r in results.values()], pets09[::4], args.runs)
    reference_ms = medians[0]
    print(f"YOLOX-Nano 416x416 on {args.threads} threads; ms/frame: median of {args.runs} pets09 frames "
          "(whole detection), rows taking turns in blocks of 10")
    print(f"{'row':<22} {'ms/frame':>8} {'speed-up':>8} {'COCO128 mAP':>11} {'Δ pts':>6} {'COCO32 mAP':>10} "
          f"{'Δ pts':>6} {'agreement':>9}")
    base = results["float32 onnxruntime"]
    out = []
    for (label, result), ms in zip(results.items(), medians):
        print(f"{label:<22} {ms:>8.2f} {reference_ms / ms:>7.2f}x {result['coco128']:>11.4f} "
              f"{100 * (result['coco128'] - base['coco128']):>+6.2f} {result['coco32']:>10.4f} "
              f"{100 * (result['coco32'] - base['coco32']):>+6.2f} {result['agreement']:>9.4f}")
        out.append({"row": label, "runtime": result["runtime"], "ms_median": round(ms, 3),
                    "speedup": round(reference_ms / ms, 3), "coco128_map": round(result["coco128"], 4),
                    "coco32_map": round(result["coco32"], 4), "agreement_ap50": round(result["agreement"], 4)})
    for label, report in reports.items():
        print(f"{label}: {report['reason']}; float layers: {', '.join(report['layers']['float'])}; "
              f"quantize took {report['seconds']:.0f} s")
    print(json.dumps({"bench": "quantize", "model": MODEL.name, "threads": args.threads, "runs": args.runs,
                      "models_dir": str(work), "results": out,
                      "quantize": {label: {"accepted": r["accepted"], "float_layers": r["layers"]["float"],
                                           "loss_points": r["accuracy"]["loss_points"], "seconds": round(r["seconds"])}
                                   for label, r in reports.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
