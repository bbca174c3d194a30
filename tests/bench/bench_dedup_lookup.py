"""Benchmark: the near-duplicate lookup at 10^6 stored frames, in the node's memory vs in the database.

"Which stored block hashes are within ``max_key_distance`` (7) bits of this one?" answered by:

  * node cache: :class:`server.dedup.hash_index.HammingIndex`, what every ``serve`` node keeps
    in memory (rebuilt from the database at start-up);
  * SQLite and PostgreSQL, multi-index query: the same multi-index hashing as the node cache, done
    by the database. The table holds (frame_id, block_hash) as ``frame_signatures`` does, with one
    expression index per 16-bit chunk of the hash; a query asks for the rows whose chunk is within
    one bit of the query's chunk (4 x 17 values, which every hash within 7 bits satisfies), and
    keeps those within 7 bits (PostgreSQL: ``bit_count`` in the query; SQLite has no popcount, so the
    driver's caller counts the candidates' bits);
  * SQLite and PostgreSQL, scan: every row's distance computed (PostgreSQL: ``bit_count`` of the
    XOR over the whole table; SQLite: a Python function registered with the driver).

Keys: uniform random 64-bit hashes; queries are stored keys with 3 bits flipped (hits) and fresh
random keys (misses), half and half; every method's answer is checked against the node cache's.
The databases are queried through their drivers (sqlite3, psycopg), as the ingest's hot path does.
Rows are bulk loaded (executemany, COPY); PostgreSQL is a throwaway local cluster started as the
tests start it (tests/server/_postgres.py). Prints per-lookup medians and the ratios, then one JSON line.

    python tests/bench/bench_dedup_lookup.py                      # 10^6 keys, a few minutes on 2 cores
    python tests/bench/bench_dedup_lookup.py --keys 100000 --queries 50   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from server.dedup.frame_signature import to_sqlite_int  # noqa: E402
from server.dedup.hash_index import CHUNK_BITS, CHUNKS, HammingIndex  # noqa: E402
from server.dedup.policy import DedupPolicy  # noqa: E402

RADIUS = DedupPolicy().max_key_distance
CHUNK_MASK = (1 << CHUNK_BITS) - 1
SHIFTS = [CHUNK_BITS * (CHUNKS - 1 - c) for c in range(CHUNKS)]
CHUNK_EXPRESSIONS = [f"((block_hash >> {shift}) & {CHUNK_MASK})" for shift in SHIFTS]


def chunk_probes(key: int) -> list[list[int]]:
    """Per chunk, the values within one bit of the key's chunk (radius 7 = every chunk within 1 bit).

    Stored keys are signed 64-bit; shift-and-mask gives the same chunks of a negative number (the
    sign bits that an arithmetic shift brings in are masked off)."""
    chunks = [(key >> shift) & CHUNK_MASK for shift in SHIFTS]
    return [[chunk] + [chunk ^ (1 << bit) for bit in range(CHUNK_BITS)] for chunk in chunks]


def median_per_call(function, queries: list[int], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for query in queries:
            function(query)
        times.append((time.perf_counter() - started) / len(queries))
    return statistics.median(times)


def band_where() -> str:
    return " OR ".join(f"{expression} IN ({', '.join(['?'] * (CHUNK_BITS + 1))})" for expression in CHUNK_EXPRESSIONS)


def sqlite_methods(path: Path, keys: np.ndarray):
    conn = sqlite3.connect(path)
    started = time.monotonic()
    conn.execute("CREATE TABLE signatures (frame_id INTEGER PRIMARY KEY, block_hash INTEGER NOT NULL)")
    conn.executemany("INSERT INTO signatures VALUES (?, ?)",
                     ((i, to_sqlite_int(int(k))) for i, k in enumerate(keys.tolist(), start=1)))
    for number, expression in enumerate(CHUNK_EXPRESSIONS):
        conn.execute(f"CREATE INDEX signatures_chunk{number} ON signatures ({expression})")
    conn.commit()
    conn.execute("ANALYZE")
    load_s = time.monotonic() - started
    conn.create_function("hamming", 2, lambda a, b: ((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count(), deterministic=True)
    band_sql = f"SELECT frame_id, block_hash FROM signatures WHERE {band_where()}"

    def band(query: int) -> set[int]:
        probes = [value for chunk in chunk_probes(query) for value in chunk]
        signed = to_sqlite_int(query)
        return {frame_id for frame_id, stored in conn.execute(band_sql, probes)
                if ((stored ^ signed) & 0xFFFFFFFFFFFFFFFF).bit_count() <= RADIUS}

    def scan(query: int) -> set[int]:
        return {row[0] for row in conn.execute("SELECT frame_id FROM signatures WHERE hamming(block_hash, ?) <= ?",
                                               (to_sqlite_int(query), RADIUS))}

    plan = " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {band_sql}", [0] * (CHUNKS * (CHUNK_BITS + 1))))
    return conn, band, scan, load_s, plan


def postgres_methods(url: str, keys: np.ndarray):
    import psycopg

    conn = psycopg.connect(url, autocommit=True)
    started = time.monotonic()
    conn.execute("CREATE TABLE signatures (frame_id BIGINT PRIMARY KEY, block_hash BIGINT NOT NULL)")
    ids = np.arange(1, len(keys) + 1)
    text = "\n".join(f"{i}\t{k}" for i, k in zip(ids.tolist(), keys.view(np.int64).tolist())) + "\n"
    with conn.cursor().copy("COPY signatures (frame_id, block_hash) FROM STDIN") as copy:
        copy.write(text)
    for number, expression in enumerate(CHUNK_EXPRESSIONS):
        conn.execute(f"CREATE INDEX signatures_chunk{number} ON signatures ({expression})")
    conn.execute("VACUUM ANALYZE signatures")
    load_s = time.monotonic() - started
    arrays = " OR ".join(f"{expression} = ANY(%(c{number})s)" for number, expression in enumerate(CHUNK_EXPRESSIONS))
    band_sql = (f"SELECT frame_id FROM signatures WHERE ({arrays})"
                f" AND bit_count((block_hash # %(q)s)::bit(64)) <= %(r)s")
    scan_sql = "SELECT frame_id FROM signatures WHERE bit_count((block_hash # %(q)s)::bit(64)) <= %(r)s"

    def params(query: int) -> dict:
        values = {f"c{number}": chunk for number, chunk in enumerate(chunk_probes(query))}
        return {**values, "q": to_sqlite_int(query), "r": RADIUS}

    def band(query: int) -> set[int]:
        return {row[0] for row in conn.execute(band_sql, params(query))}

    def scan(query: int) -> set[int]:
        return {row[0] for row in conn.execute(scan_sql, params(query))}

    plan = " | ".join(row[0].split("(")[0].strip(" ->") for row in conn.execute(f"EXPLAIN {band_sql}", params(0))
                      if "Cond:" not in row[0] and "Filter:" not in row[0])
    return conn, band, scan, load_s, plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=1_000_000, help="stored block hashes")
    parser.add_argument("--queries", type=int, default=200, help="lookups per round (scans: a tenth, at least 4)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 2**64, args.keys, dtype=np.uint64)
    picks = keys[rng.integers(0, args.keys, args.queries // 2)]
    hits = [int(k) ^ (1 << int(a)) ^ (1 << int(b)) ^ (1 << int(c))
            for k, (a, b, c) in zip(picks.tolist(), rng.choice(64, (len(picks), 3)).tolist())]
    queries = hits + [int(k) for k in rng.integers(0, 2**64, args.queries - len(hits), dtype=np.uint64)]
    rng.shuffle(queries)
    scan_queries = queries[: max(4, args.queries // 10)]

    index = HammingIndex()
    started = time.monotonic()
    index.bulk_load(keys, np.arange(1, args.keys + 1))
    index_load = time.monotonic() - started
    expected = {q: set(index.query(q, RADIUS).items.tolist()) for q in queries}
    results = {"node cache": {"lookup_us": median_per_call(lambda q: index.query(q, RADIUS), queries, args.rounds) * 1e6,
                              "load_s": index_load}}
    print(f"{args.keys:,} stored keys, radius {RADIUS}, {len(queries)} lookups ({len(hits)} hits), "
          f"{np.mean([len(v) for v in expected.values()]):.2f} matches per lookup; node cache built in {index_load:.2f} s",
          flush=True)

    from tests.server._postgres import PostgresCluster

    cluster = PostgresCluster()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-dedup-lookup-") as tmp:
            for name, opened in (("sqlite", lambda: sqlite_methods(Path(tmp) / "lookup.db", keys)),
                                 ("postgresql", lambda: postgres_methods(cluster.new_database(), keys))):
                conn, band, scan, load_s, plan = opened()
                print(f"{name}: {args.keys:,} rows loaded and indexed in {load_s:.1f} s; multi-index plan: {plan}",
                      flush=True)
                for query in queries[:20]:
                    assert band(query) == expected[query], f"{name} multi-index query disagrees with the node cache"
                for query in scan_queries[:4]:
                    assert scan(query) == expected[query], f"{name} scan disagrees with the node cache"
                results[f"{name} multi-index"] = {"lookup_us": median_per_call(band, queries, args.rounds) * 1e6,
                                                  "load_s": load_s}
                results[f"{name} scan"] = {"lookup_us": median_per_call(scan, scan_queries, max(1, args.rounds // 2)) * 1e6}
                conn.close()
    finally:
        cluster.stop()

    base = results["node cache"]["lookup_us"]
    print(f"\nlookup of every stored key within {RADIUS} bits, {args.keys:,} keys (per lookup, medians of {args.rounds} rounds)")
    print(f"{'method':24} {'per lookup':>12} {'x node cache':>13}")
    for method, values in results.items():
        values["x_node_cache"] = values["lookup_us"] / base
        lookup = values["lookup_us"]
        shown = f"{lookup:9.1f} us" if lookup < 10_000 else f"{lookup / 1000:9.1f} ms"
        print(f"{method:24} {shown:>12} {values['x_node_cache']:12.1f}x")
    print(json.dumps({"bench": "dedup_lookup", "keys": args.keys, "radius": RADIUS, "queries": len(queries),
                      "methods": results}, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
