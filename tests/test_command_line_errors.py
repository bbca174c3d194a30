"""Failures that are the user's to fix end in one line on stderr and a non-zero status, never a
traceback: a closed output pipe, a path that cannot be written, a missing optional dependency."""

import subprocess
import sys

from server.datadir import DataDir
from tests.conftest import DATA_DIR, MODEL_PATH, REPO_DIR
from tests.server._frames import PETS, clip_frames, encode, header_for


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO_DIR, capture_output=True, text=True, timeout=120,
                          check=False, **kwargs)


def assert_one_line(result: subprocess.CompletedProcess, prog: str, *words: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), lines
    assert all(word in lines[0] for word in words), lines[0]


def test_output_to_a_closed_pipe_ends_quietly(tmp_path):
    with DataDir.open(tmp_path / "data") as store:
        images = clip_frames(PETS, (0, 1, 2))
        store.ingest_frames([(header_for(image, "cam", seq), encode(image)) for seq, image in enumerate(images)])
    # The reader is gone before the command writes anything (as with `| head` on long output).
    process = subprocess.Popen([sys.executable, "-m", "server", "duplicates", "--data-dir", str(tmp_path / "data"),
                                "--json"], cwd=REPO_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 141 and stderr == b""


def test_a_path_that_cannot_be_written_is_one_line(tmp_path):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("x")
    with DataDir.open(tmp_path / "data"):
        pass
    export = run("-m", "server", "export", "coco", "--data-dir", str(tmp_path / "data"),
                 "--out", str(not_a_folder / "coco"), "--status", "all")
    assert_one_line(export, "edgelabel-collector export", str(not_a_folder))
    keys = run("-m", "server", "keys", "add-device", "cam", "--data-dir", str(not_a_folder / "data"),
               "--endpoint", "tcp://127.0.0.1:5555", "--out", str(tmp_path / "cam.toml"))
    assert_one_line(keys, "edgelabel-collector keys", str(not_a_folder))


def test_a_missing_optional_dependency_names_the_extra_to_install(tmp_path):
    without_onnxruntime = ("import sys; sys.modules['onnxruntime'] = None; from edge.cli import main; "
                           "raise SystemExit(main(sys.argv[1:]))")
    image = DATA_DIR / "images" / "yolov5_zidane.jpg"
    detect = run("-c", without_onnxruntime, "detect", "--model", str(MODEL_PATH), str(image), "--json")
    assert_one_line(detect, "edgelabel-agent detect", "onnxruntime is not installed", "pip install 'edgelabel[edge]'")
