"""Only ``init`` and ``serve`` (and ``demo``) create a data directory. Every other command refuses a
missing or unusable one in one line that names it: a typo in ``--data-dir`` must not quietly become
a new, empty collector with a key pair no device knows."""

import argparse
import stat
import subprocess
import sys

import pytest

from server.cli import build_parser, main
from tests.conftest import MODEL_PATH, REPO_DIR

CREATING = {("serve",), ("init",), ("demo",)}

# What each command needs besides --data-dir, to get as far as opening it.
ARGUMENTS = {
    ("keys", "add-device"): ["cam", "--endpoint", "tcp://127.0.0.1:5555", "--out", "{tmp}/cam.toml"],
    ("keys", "remove-device"): ["cam"],
    ("keys", "list"): [],
    ("keys", "show-signing-key"): [],
    ("stats",): [],
    ("classes", "list"): [],
    ("classes", "import"): ["{tmp}/taxonomy.toml"],
    ("classes", "export"): [],
    ("classes", "map"): ["model", "person", "pedestrian"],
    ("classes", "apply"): [],
    ("duplicates",): [],
    ("export",): ["coco", "--out", "{tmp}/export"],
    ("import",): ["{tmp}"],
    ("synthesize",): ["--device", "cam", "--classes", "person", "--count", "1"],
    ("users", "add"): ["alice", "--role", "reviewer"],
    ("users", "list"): [],
    ("users", "remove"): ["alice"],
    ("media", "gc"): [],
    ("models", "add"): [str(MODEL_PATH)],
    ("models", "list"): [],
    ("models", "evaluate"): ["yolox"],
    ("models", "deploy"): ["yolox", "--all"],
    ("models", "rollback"): ["cam"],
    ("models", "status"): [],
}


def commands_with_a_data_dir() -> list[tuple[str, ...]]:
    found = []

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, path + (name,))
                return
        if any("--data-dir" in action.option_strings for action in parser._actions):
            found.append(path)

    walk(build_parser(), ())
    return found


def test_every_command_with_a_data_dir_is_checked_here():
    assert set(commands_with_a_data_dir()) - CREATING == set(ARGUMENTS)


@pytest.mark.parametrize("command", sorted(ARGUMENTS), ids=" ".join)
def test_a_missing_data_dir_is_one_line_and_creates_nothing(command, tmp_path, capsys):
    (tmp_path / "taxonomy.toml").write_text('[[class]]\nname = "pedestrian"\n')
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("x")
    for data_dir in (tmp_path / "collectr", not_a_folder / "collector"):  # a typo; a path through a file
        args = [part.format(tmp=tmp_path) for part in ARGUMENTS[command]]
        status = main([*command, "--data-dir", str(data_dir), *args])
        err = capsys.readouterr().err
        assert status == 2, err
        assert err.strip() == (f"edgelabel-collector {command[0]}: error: no collector data directory at {data_dir}: "
                               f"check the path, or create one with 'edgelabel-collector init --data-dir {data_dir}'")
        assert not (tmp_path / "collectr").exists()


def test_init_creates_a_private_collector_once(tmp_path):
    data_dir = tmp_path / "collector"
    first = subprocess.run([sys.executable, "-m", "server", "init", "--data-dir", str(data_dir)], cwd=REPO_DIR,
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"initialised a collector in {data_dir}: database ")
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert (data_dir / "edgelabel.db").is_file() and (data_dir / "keys" / "collector.json").is_file()
    key = (data_dir / "keys" / "collector.json").read_text()
    again = subprocess.run([sys.executable, "-m", "server", "init", "--data-dir", str(data_dir)], cwd=REPO_DIR,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout.startswith("collector already initialised")
    assert (data_dir / "keys" / "collector.json").read_text() == key  # the same key pair: devices still connect


def test_an_existing_folder_that_is_no_collector_is_refused_too(tmp_path, capsys):
    """A real folder, but the wrong one (the parent of the data directory, say): no keys, no database."""
    assert main(["keys", "add-device", "cam", "--data-dir", str(tmp_path), "--endpoint", "tcp://127.0.0.1:5555",
                 "--out", str(tmp_path / "cam.toml")]) == 2
    assert "no collector keys in" in capsys.readouterr().err and not (tmp_path / "keys").exists()
    assert main(["users", "add", "alice", "--role", "reviewer", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no edgelabel database in" in err and "edgelabel-collector init" in err
    assert not (tmp_path / "edgelabel.db").exists()
