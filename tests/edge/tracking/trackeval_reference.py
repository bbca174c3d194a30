"""Run the real TrackEval (when installed) on a ground-truth and a results file, for cross-checks."""

import shutil
from pathlib import Path

import numpy as np


def trackeval_metrics(gt_file: Path, results_file: Path, seqinfo: Path, work_dir: Path) -> dict:
    """Our metric names -> TrackEval's numbers, MOT15 protocol, one sequence."""
    import trackeval

    sequence = "SEQ"
    gt_dir = work_dir / "gt" / "MOT15-train" / sequence
    (gt_dir / "gt").mkdir(parents=True)
    shutil.copy(gt_file, gt_dir / "gt" / "gt.txt")
    shutil.copy(seqinfo, gt_dir / "seqinfo.ini")
    tracker_dir = work_dir / "trackers" / "MOT15-train" / "ours" / "data"
    tracker_dir.mkdir(parents=True)
    shutil.copy(results_file, tracker_dir / f"{sequence}.txt")
    (work_dir / "seqmap.txt").write_text(f"name\n{sequence}\n")
    quiet = {"PRINT_RESULTS": False, "PRINT_CONFIG": False, "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False,
             "PLOT_CURVES": False, "TIME_PROGRESS": False, "USE_PARALLEL": False, "PRINT_ONLY_COMBINED": True}
    evaluator = trackeval.Evaluator({**trackeval.Evaluator.get_default_eval_config(), **quiet})
    dataset = trackeval.datasets.MotChallenge2DBox({
        **trackeval.datasets.MotChallenge2DBox.get_default_dataset_config(),
        "GT_FOLDER": str(work_dir / "gt"), "TRACKERS_FOLDER": str(work_dir / "trackers"), "BENCHMARK": "MOT15",
        "SPLIT_TO_EVAL": "train", "SEQMAP_FILE": str(work_dir / "seqmap.txt"), "TRACKERS_TO_EVAL": ["ours"],
        "PRINT_CONFIG": False,
    })
    metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
               trackeval.metrics.Identity({"PRINT_CONFIG": False})]
    results, _ = evaluator.evaluate([dataset], metrics)
    found = results["MotChallenge2DBox"]["ours"][sequence]["pedestrian"]
    clear, identity, hota = found["CLEAR"], found["Identity"], found["HOTA"]
    return {
        "mota": clear["MOTA"], "motp": clear["MOTP"], "true_positives": clear["CLR_TP"],
        "false_negatives": clear["CLR_FN"], "false_positives": clear["CLR_FP"], "id_switches": clear["IDSW"],
        "mostly_tracked": clear["MT"], "partially_tracked": clear["PT"], "mostly_lost": clear["ML"],
        "fragmentations": clear["Frag"], "idf1": identity["IDF1"], "idp": identity["IDP"], "idr": identity["IDR"],
        "idtp": identity["IDTP"], "idfn": identity["IDFN"], "idfp": identity["IDFP"],
        "hota": float(np.mean(hota["HOTA"])), "deta": float(np.mean(hota["DetA"])),
        "assa": float(np.mean(hota["AssA"])), "loca": float(np.mean(hota["LocA"])),
    }
