"""Duplicate detection benchmark: accuracy on real frames next to imagehash, and index lookups vs a scan.

Run:  .venv/bin/python tests/bench/bench_dedup.py            (about two minutes on 2 cores)
      .venv/bin/python tests/bench/bench_dedup.py --quick    (smaller sizes, for a smoke run)

Needs ``imagehash`` (bench only: ``pip install imagehash``). Prints two tables and one JSON line.

1. Near-duplicate precision/recall on pairs built from the shared clips (``shared/data/videos``):
   * positives: a frame and an OpenCV-made copy of it: JPEG re-encoded at quality 30/50/70, resized
     to 0.5/0.75/1.25, brightness +-10%, shifted 1/2/3% in a random direction, cropped 2/3/4% (one
     side or centred), Gaussian sensor noise (sigma 3 and 6);
   * negatives: frames of two different clips; and frames of one fixed-camera clip taken at
     different times where people or cars moved, the second one put through a random transform of
     the list above. "Moved" is decided at full quality before any transform: after aligning the
     two frames (phase correlation) at 256 px wide, at least 1% of the picture changed by more than
     25 grey levels. Same-clip pairs with less than 0.1% change are the same picture (reported as
     "identical scene merged"); pairs in between are left out as ambiguous. The dashcam clip gives
     positives and cross-clip negatives only: its camera moves, so "people moved" means nothing.
   Our method: block hash within ``max_key_distance`` bits, then the thumbnail check, exactly as at
   ingest. imagehash pHash and dHash: Hamming threshold chosen as the one with the highest recall
   whose precision is at least ours (the same precision). Hashing cost per frame starts from the
   JPEG bytes for both (decode included); "marginal" is ours on the image the ingest's decode check
   already produced.
2. Lookup latency of "which stored keys are within distance d" at 10^4, 10^5 and 10^6 stored keys,
   for the multi-index hashing index and a numpy linear scan (xor + popcount) in the same run;
   medians of per-query times over several rounds. Stored keys are the block hashes of every
   decoded frame of the shared clips, padded with uniform random keys; queries are stored keys with
   a few bits flipped (hits) and fresh random keys (misses), half and half. Then the index rebuild
   from a real SQLite database of 10^6 representatives, as ``serve`` does at start-up.
"""

from __future__ import annotations

import argparse
import io
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from server.datadir import DataDir  # noqa: E402
from server.dedup.engine import Deduplicator  # noqa: E402
from server.dedup.frame_signature import signature_of_gray, to_sqlite_int  # noqa: E402
from server.dedup.hash_index import HammingIndex, popcount64  # noqa: E402
from server.dedup.policy import DedupPolicy  # noqa: E402
from server.dedup.thumbnail_check import compare_thumbnails  # noqa: E402
from server.images import gray_for_signature, verify_jpeg  # noqa: E402

VIDEOS = REPO.parent / "shared" / "data" / "videos"
MOVING_CAMERA = ("dashcam",)
GT_MOVED, GT_SAME = 0.01, 0.001


# --- pairs ----------------------------------------------------------------------------------------


def read_frames(path: Path, step: int, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames, index = [], 0
    while len(frames) < count:
        ok, image = capture.read()
        if not ok:
            break
        if index % step == 0:
            frames.append(image)
        index += 1
    capture.release()
    return frames


def encode(image: np.ndarray, quality: int = 90) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def transforms(image: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    height, width = image.shape[:2]
    out = {f"jpeg{q}": cv2.imdecode(np.frombuffer(encode(image, q), np.uint8), cv2.IMREAD_COLOR) for q in (30, 50, 70)}
    for scale in (0.5, 0.75, 1.25):
        out[f"resize{scale}"] = cv2.resize(image, (int(width * scale), int(height * scale)),
                                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out["bright+10"] = cv2.convertScaleAbs(image, alpha=1.1)
    out["bright-10"] = cv2.convertScaleAbs(image, alpha=0.9)
    for share in (0.01, 0.02, 0.03):
        angle = rng.uniform(0, 2 * np.pi)
        shift = np.float32([[1, 0, share * width * np.cos(angle)], [0, 1, share * height * np.sin(angle)]])
        out[f"shift{share:.0%}"] = cv2.warpAffine(image, shift, (width, height), borderMode=cv2.BORDER_REPLICATE)
    for share in (0.02, 0.03, 0.04):
        dx, dy = round(width * share), round(height * share)
        where = rng.choice(["top-left", "bottom-right", "centre"])
        crop = {"top-left": image[dy:, dx:], "bottom-right": image[: height - dy, : width - dx],
                "centre": image[dy // 2 : height - dy // 2, dx // 2 : width - dx // 2]}[where]
        out[f"crop{share:.0%}"] = np.ascontiguousarray(crop)
    for sigma in (3, 6):
        out[f"noise{sigma}"] = np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)
    return out


def changed_share(first: np.ndarray, second: np.ndarray) -> float:
    """Ground truth: share of the picture that changed, after aligning, at 256 px wide."""
    def prepare(image):
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        height, width = gray.shape
        small = cv2.resize(gray, (256, round(256 * height / width)), interpolation=cv2.INTER_AREA).astype(np.float32)
        return cv2.GaussianBlur(small, (3, 3), 0)

    a, b = prepare(first), prepare(second)
    (dx, dy), _ = cv2.phaseCorrelate(a, b)
    aligned = cv2.warpAffine(b, np.float32([[1, 0, -dx], [0, 1, -dy]]), (b.shape[1], b.shape[0]),
                             borderMode=cv2.BORDER_REPLICATE)
    difference = a - aligned
    difference -= np.median(difference)
    mask = cv2.morphologyEx((np.abs(difference) > 25).astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    margin_x, margin_y = 4 + int(abs(dx)), 4 + int(abs(dy))
    return float(mask[margin_y:-margin_y, margin_x:-margin_x].mean())


def build_pairs(frames_per_clip: int, seed: int = 3) -> dict[str, list]:
    rng = np.random.default_rng(seed)
    pairs = {"positive": [], "negative": [], "same": []}
    clips = {}
    for path in sorted(VIDEOS.iterdir()):
        name = path.stem
        frames = read_frames(path, step=5, count=frames_per_clip)
        clips[name] = [encode(f) for f in frames]
        for image in frames[::6]:
            for kind, copy in transforms(image, rng).items():
                pairs["positive"].append((name, kind, encode(image), encode(copy)))
        if name.startswith(MOVING_CAMERA):
            continue
        for i in range(len(frames)):
            for j in range(i + 1, len(frames)):
                if rng.random() > 0.15:
                    continue
                share = changed_share(frames[i], frames[j])
                kind, copy = list(transforms(frames[j], rng).items())[rng.integers(16)]
                item = (name, kind, encode(frames[i]), encode(copy))
                if share >= GT_MOVED:
                    pairs["negative"].append(item)
                elif share < GT_SAME:
                    pairs["same"].append(item)
    names = list(clips)
    for _ in range(300):
        a, b = rng.choice(len(names), 2, replace=False)
        pairs["negative"].append((f"{names[a]}|{names[b]}", "other clip", clips[names[a]][rng.integers(len(clips[names[a]]))],
                                  clips[names[b]][rng.integers(len(clips[names[b]]))]))
    return pairs


# --- methods --------------------------------------------------------------------------------------


def our_signature(jpeg: bytes):
    """From the bytes, as the ingest does it: a 1/8-scale gray decode (larger for small images), then sign."""
    small = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    return signature_of_gray(gray_for_signature(jpeg, small))


def _jpeg_size(jpeg: bytes) -> tuple[int, int]:
    from edge.contract.wire import jpeg_size

    return jpeg_size(jpeg)


def our_decision(first, second, policy: DedupPolicy) -> bool:
    if (first.block_hash ^ second.block_hash).bit_count() > policy.max_key_distance:
        return False
    return compare_thumbnails(first.thumbnail, second.thumbnail).changed_area <= policy.max_changed_area


def imagehash_of(jpeg: bytes, function):
    from PIL import Image

    return function(Image.open(io.BytesIO(jpeg)))


def precision_recall(decisions_positive: list[bool], decisions_negative: list[bool]) -> tuple[float, float]:
    true_positive = sum(decisions_positive)
    false_positive = sum(decisions_negative)
    precision = true_positive / (true_positive + false_positive) if true_positive + false_positive else 1.0
    return precision, true_positive / len(decisions_positive)


def threshold_for_precision(distances_positive, distances_negative, precision_floor: float) -> tuple[int, float, float]:
    best = (-1, 1.0, 0.0)
    for threshold in range(0, 65):
        precision, recall = precision_recall([d <= threshold for d in distances_positive],
                                             [d <= threshold for d in distances_negative])
        if precision >= precision_floor and recall >= best[2]:
            best = (threshold, precision, recall)
    return best


def median_time_per_call(function, items, rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for item in items:
            function(item)
        times.append((time.perf_counter() - started) / len(items))
    return statistics.median(times)


def accuracy_table(frames_per_clip: int) -> dict:
    import imagehash

    started = time.monotonic()
    pairs = build_pairs(frames_per_clip)
    print(f"pairs: {len(pairs['positive'])} positive, {len(pairs['negative'])} negative "
          f"({sum(1 for p in pairs['negative'] if p[1] == 'other clip')} other clip), {len(pairs['same'])} identical "
          f"scene; built in {time.monotonic() - started:.0f} s", flush=True)
    policy = DedupPolicy()
    signatures = {}

    def signature(jpeg):
        if id(jpeg) not in signatures:
            signatures[id(jpeg)] = our_signature(jpeg)
        return signatures[id(jpeg)]

    ours = {kind: [our_decision(signature(a), signature(b), policy) for _, _, a, b in pairs[kind]] for kind in pairs}
    our_precision, our_recall = precision_recall(ours["positive"], ours["negative"])
    rows = [("ours: block hash + thumbnail", f"d<={policy.max_key_distance}, area<={policy.max_changed_area}",
             our_precision, our_recall, float(np.mean(ours["same"])))]
    missed = {}
    for (name, kind, _, _), found in zip(pairs["positive"], ours["positive"]):
        if not found:
            missed[kind] = missed.get(kind, 0) + 1
    results = {"ours": {"precision": our_precision, "recall": our_recall, "missed_by_transform": missed}}
    for label, function in (("imagehash pHash", imagehash.phash), ("imagehash dHash", imagehash.dhash)):
        cache = {}

        def hashed(jpeg):
            if id(jpeg) not in cache:
                cache[id(jpeg)] = imagehash_of(jpeg, function)
            return cache[id(jpeg)]

        distances = {kind: [hashed(a) - hashed(b) for _, _, a, b in pairs[kind]] for kind in pairs}
        threshold, precision, recall = threshold_for_precision(distances["positive"], distances["negative"], our_precision)
        same = float(np.mean([d <= threshold for d in distances["same"]])) if threshold >= 0 else 0.0
        rows.append((label, f"d<={threshold}" if threshold >= 0 else "none reaches it", precision, recall, same))
        results[label] = {"threshold": threshold, "precision": precision, "recall": recall}

    jpegs = [a for _, _, a, _ in pairs["positive"][::16]][:60]
    smalls = [verify_jpeg(j, *_jpeg_size(j)) for j in jpegs]
    cost_ours = median_time_per_call(our_signature, jpegs)
    cost_marginal = median_time_per_call(signature_of_gray, smalls)
    cost_phash = median_time_per_call(lambda j: imagehash_of(j, imagehash.phash), jpegs)
    cost_dhash = median_time_per_call(lambda j: imagehash_of(j, imagehash.dhash), jpegs)
    candidates = [(signature(a), signature(b)) for _, _, a, b in pairs["negative"][:200]]
    cost_compare = median_time_per_call(lambda pair: compare_thumbnails(pair[0].thumbnail, pair[1].thumbnail), candidates)

    print("\nnear-duplicate detection on the shared clips (precision / recall; 'same scene' = identical-scene pairs merged)")
    print(f"{'method':32} {'threshold':26} {'precision':>9} {'recall':>7} {'same scene':>10}")
    for label, threshold, precision, recall, same in rows:
        print(f"{label:32} {threshold:26} {precision:9.4f} {recall:7.4f} {same:10.3f}")
    print(f"ours missed: {missed}")
    print("\nhashing cost per frame, from the JPEG bytes (same frames, medians)")
    print(f"  ours (1/8-scale decode + signature) {cost_ours * 1e3:7.3f} ms")
    print(f"  ours, marginal at ingest            {cost_marginal * 1e3:7.3f} ms  (the decode check already decoded it)")
    print(f"  imagehash pHash                      {cost_phash * 1e3:7.3f} ms  ({cost_phash / cost_ours:.1f}x ours, "
          f"{cost_phash / cost_marginal:.0f}x marginal)")
    print(f"  imagehash dHash                      {cost_dhash * 1e3:7.3f} ms  ({cost_dhash / cost_ours:.1f}x ours)")
    print(f"  thumbnail check per candidate        {cost_compare * 1e3:7.3f} ms")
    results["cost_ms"] = {"ours": cost_ours * 1e3, "ours_marginal": cost_marginal * 1e3, "imagehash_phash": cost_phash * 1e3,
                          "imagehash_dhash": cost_dhash * 1e3, "thumbnail_check": cost_compare * 1e3}
    results["pairs"] = {kind: len(items) for kind, items in pairs.items()}
    return results


# --- lookups --------------------------------------------------------------------------------------


def real_keys() -> np.ndarray:
    keys = []
    for path in sorted(VIDEOS.iterdir()):
        capture = cv2.VideoCapture(str(path))
        while True:
            ok, image = capture.read()
            if not ok:
                break
            small = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), None, fx=0.125, fy=0.125, interpolation=cv2.INTER_AREA)
            keys.append(signature_of_gray(small).block_hash)
        capture.release()
    return np.array(keys, dtype=np.uint64)


def lookup_table(sizes: list[int], radius: int, queries_per_round: int) -> dict:
    rng = np.random.default_rng(11)
    real = real_keys()
    print(f"\n{len(real)} real block hashes from the shared clips; padded with uniform random keys", flush=True)
    results = {}
    print(f"\nlookup of every stored key within {radius} bits (per query, medians)")
    print(f"{'stored keys':>12} {'index':>10} {'linear scan':>12} {'speed-up':>9} {'hits/query':>10}")
    for size in sizes:
        keys = np.concatenate([real, rng.integers(0, 2**64, max(0, size - len(real)), dtype=np.uint64)])[:size]
        index = HammingIndex()
        index.bulk_load(keys, np.arange(size))
        picks = keys[rng.integers(0, size, queries_per_round // 2)]
        flips = rng.integers(0, 64, (len(picks), 3))
        hits = [int(k) ^ (1 << int(a)) ^ (1 << int(b)) for k, (a, b, _) in zip(picks, flips)]
        queries = hits + [int(k) for k in rng.integers(0, 2**64, queries_per_round - len(hits), dtype=np.uint64)]
        rng.shuffle(queries)
        found = [len(index.query(q, radius)) for q in queries]
        index_time = median_time_per_call(lambda q: index.query(q, radius), queries, rounds=7)
        scan_queries = queries[: max(20, queries_per_round // 10)]
        scan_time = median_time_per_call(
            lambda q: np.flatnonzero(popcount64(keys ^ np.uint64(q)) <= radius), scan_queries, rounds=7)
        for q in scan_queries[:20]:  # the index and the scan agree
            assert set(index.query(q, radius).items.tolist()) == set(
                np.flatnonzero(popcount64(keys ^ np.uint64(q)) <= radius).tolist())
        print(f"{size:12,d} {index_time * 1e6:8.1f}us {scan_time * 1e6:10.1f}us {scan_time / index_time:8.1f}x "
              f"{np.mean(found):10.2f}")
        results[size] = {"index_us": index_time * 1e6, "scan_us": scan_time * 1e6, "speedup": scan_time / index_time}
    return results


def rebuild_from_database(count: int) -> dict:
    """Start-up cost: load ``count`` group representatives from a real SQLite file into the index."""
    rng = np.random.default_rng(5)
    with tempfile.TemporaryDirectory() as tmp:
        DataDir.open(Path(tmp)).close()
        conn = sqlite3.connect(Path(tmp) / "edgelabel.db")
        keys = rng.integers(0, 2**64, count, dtype=np.uint64)
        thumbnail = bytes(1024)
        started = time.monotonic()
        conn.execute("BEGIN")
        conn.execute("INSERT INTO devices VALUES ('cam', 0, 0, 0)")
        conn.execute("INSERT INTO models VALUES ('m', '[\"person\"]')")
        conn.executemany(
            "INSERT INTO frames (id, device, seq, capture_ts, source_ts, frame_index, received_at, width, height, model_id,"
            " media_sha256, media_bytes, phash, reasons, priority, status) VALUES"
            " (?, 'cam', ?, ?, 0, 0, 0, 640, 480, 'm', ?, 1, '0000000000000000', '[]', 0, 'pending')",
            ((i, i, float(i), f"{i:064x}") for i in range(1, count + 1)))
        conn.executemany("INSERT INTO dedup_groups VALUES (?, ?, 0, 0)", ((i, i) for i in range(1, count + 1)))
        conn.executemany(
            "INSERT INTO frame_signatures VALUES (?, ?, 0, ?, 1, 0, 0, ?)",
            ((i, to_sqlite_int(int(k)), thumbnail, i) for i, k in enumerate(keys, start=1)))
        conn.execute("COMMIT")
        fill = time.monotonic() - started
        conn.close()
        with DataDir.open(Path(tmp)) as store:
            started = time.monotonic()
            readiness = store.prepare_ingest()
            seconds = time.monotonic() - started
            dedup = Deduplicator()
            with store.db.read() as conn:
                started = time.monotonic()
                dedup.load(conn)
                index_only = time.monotonic() - started
    print(f"\nindex rebuild at start-up from {count:,} representatives in SQLite: {seconds:.2f} s "
          f"(DataDir.prepare_ingest, incl. class counts and recent tracks; index alone {index_only:.2f} s; "
          f"filling the test database took {fill:.0f} s)")
    assert readiness.representatives == count
    return {"representatives": count, "prepare_ingest_s": seconds, "index_load_s": index_only}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller pair set and index sizes")
    args = parser.parse_args()
    radius = DedupPolicy().max_key_distance
    accuracy = accuracy_table(frames_per_clip=16 if args.quick else 40)
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    lookups = lookup_table(sizes, radius, queries_per_round=400 if args.quick else 1000)
    rebuild = rebuild_from_database(100_000 if args.quick else 1_000_000)
    print(json.dumps({"bench": "dedup", "accuracy": accuracy, "lookup": lookups, "rebuild": rebuild}, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
