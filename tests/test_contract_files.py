"""Atomic file writes (edge.contract.files): whole new file or the old one, fsynced, with the asked permissions."""

import os
import stat

import pytest

from edge.contract.files import atomic_file, atomic_write_bytes, atomic_write_text


def names(directory):
    return sorted(p.name for p in directory.iterdir())


def permissions(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_and_replaces_whole_files(tmp_path):
    path = tmp_path / "report.json"
    atomic_write_text(path, "first ünïcode\n")
    assert path.read_text(encoding="utf-8") == "first ünïcode\n"
    atomic_write_bytes(path, b"\x00second")
    assert path.read_bytes() == b"\x00second"
    with atomic_file(path, encoding="utf-8") as out:
        out.write("third\n")
    assert path.read_text(encoding="utf-8") == "third\n"
    assert names(tmp_path) == ["report.json"]


def test_secret_files_get_their_mode_and_others_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "device.toml", "secret", mode=0o600)
        atomic_write_text(tmp_path / "plain.txt", "plain")
        (tmp_path / "was-open.key").write_text("old")
        (tmp_path / "was-open.key").chmod(0o644)
        atomic_write_bytes(tmp_path / "was-open.key", b"new", mode=0o600)
    finally:
        os.umask(previous)
    assert permissions(tmp_path / "device.toml") == 0o600
    assert permissions(tmp_path / "plain.txt") == 0o644
    assert permissions(tmp_path / "was-open.key") == 0o600  # a new inode: the old file's mode does not carry over


def test_a_failure_mid_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with atomic_file(path) as out:
            out.write(b"half of the new")
            raise RuntimeError("disk on fire")
    assert path.read_text() == "old"
    assert names(tmp_path) == ["keys.json"]


def test_a_failed_rename_leaves_no_temporary(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "inside").write_text("x")
    with pytest.raises(OSError):
        atomic_write_bytes(tmp_path / "taken", b"data")  # a non-empty directory cannot be replaced
    assert names(tmp_path) == ["taken"]


def test_the_file_is_fsynced_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    events = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(fd):
        events.append("fsync directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        fsync(fd)

    def recording_replace(source, target):
        events.append("rename")
        replace(source, target)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    atomic_write_bytes(tmp_path / "credentials.toml", b"data")
    assert events == ["fsync file", "rename", "fsync directory"]
