"""The README's first command, as a script or a container runs it (no terminal on stdin): the demo
keeps the review UI up until it is told to stop, and then stops the collector cleanly."""

import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import DATA_DIR, MODEL_PATH, REPO_DIR

CLIP = DATA_DIR / "videos" / "street_night_crowd_mmtracking_demo_8frames.mp4"


@pytest.mark.slow
def test_the_demo_without_a_terminal_serves_until_sigterm(tmp_path):
    demo = subprocess.Popen([sys.executable, "-m", "server", "demo", "--source", str(CLIP), "--model", str(MODEL_PATH),
                             "--data-dir", str(tmp_path / "demo")],
                            cwd=REPO_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        url = None
        for line in demo.stdout:
            found = re.search(r"in a browser: (\S+)/login", line)
            url = found.group(1) if found else url
            if "stays up until this process gets SIGTERM" in line:
                break
        assert url, "the demo printed no review address"
        time.sleep(1.0)
        assert demo.poll() is None, "the demo ended by itself"
        assert httpx.get(f"{url}/login", timeout=10).status_code == 200  # the printed address answers
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=60) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/login", timeout=5)  # the collector went with it


def test_no_wait_exits_once_the_agent_is_done(tmp_path):
    demo = subprocess.run([sys.executable, "-m", "server", "demo", "--source", str(CLIP), "--model", str(MODEL_PATH),
                           "--data-dir", str(tmp_path / "demo"), "--no-wait"],
                          cwd=REPO_DIR, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "the collector now holds" in demo.stdout and "stays up" not in demo.stdout
