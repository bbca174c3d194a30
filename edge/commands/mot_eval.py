"""``edgelabel-agent mot-eval``: score a MOTChallenge results file against ground truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EPILOG = """\
examples:
  edgelabel-agent mot-eval --gt TUD-Campus/gt/gt.txt --results TUD-Campus.txt
  edgelabel-agent mot-eval --gt TUD-Campus/gt/gt.txt --results TUD-Campus.txt --json

Both files are MOTChallenge text ('frame,id,x,y,w,h,score,...', frames from 1). Ground-truth
rows whose seventh column is 0 are ignored (the MOT15 rules; MOT16/17/20 distractor classes are
not filtered). The numbers are those TrackEval reports: CLEAR-MOT (MOTA, MOTP, ID switches,
FP, FN), identity (IDF1, IDP, IDR) and HOTA (DetA, AssA, LocA), matching boxes at IoU 0.5.
"""

_TABLE = (
    ("MOTA", "mota"), ("IDF1", "idf1"), ("HOTA", "hota"), ("MOTP", "motp"), ("IDP", "idp"), ("IDR", "idr"),
    ("DetA", "deta"), ("AssA", "assa"), ("LocA", "loca"),
    ("ID switches", "id_switches"), ("false positives", "false_positives"), ("false negatives", "false_negatives"),
    ("fragmentations", "fragmentations"), ("mostly tracked", "mostly_tracked"),
    ("partially tracked", "partially_tracked"), ("mostly lost", "mostly_lost"),
    ("ground-truth boxes", "gt_boxes"), ("result boxes", "result_boxes"),
    ("ground-truth ids", "gt_ids"), ("result ids", "result_ids"), ("frames", "frames"),
)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "mot-eval",
        help="score tracking results against MOTChallenge ground truth (MOTA, IDF1, HOTA)",
        description="Compute CLEAR-MOT, identity and HOTA metrics of a MOTChallenge results file.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--gt", required=True, type=Path, metavar="FILE", help="ground truth, e.g. SEQ/gt/gt.txt")
    parser.add_argument("--results", required=True, type=Path, metavar="FILE", help="tracker output to score")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return parser


def run(args: argparse.Namespace) -> int:
    from edge.contract.motfile import read_mot_file
    from edge.evaluation.mot import evaluate_mot

    metrics = evaluate_mot(read_mot_file(args.gt), read_mot_file(args.results)).to_json()
    if args.json:
        print(json.dumps(metrics))
        return 0
    width = max(len(label) for label, _ in _TABLE)
    for label, key in _TABLE:
        value = metrics[key]
        print(f"{label:<{width}}  {value:.3f}" if isinstance(value, float) else f"{label:<{width}}  {value}")
    return 0
