"""What both command lines do with a failure that is the user's to fix: one line, never a traceback.

Each CLI runs its handler through :func:`run_handler`, which turns its domain errors, a file it
may not read or write, a missing optional dependency and a closed output pipe into one line on
stderr and an exit status. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

EXTRA_OF_MODULE = {
    "onnxruntime": "edge", "cv2": "edge", "scipy": "edge", "tqdm": "edge", "prometheus_client": "edge",
    "tomli_w": "edge", "sqlalchemy": "collector", "sqlite_utils": "collector", "starlette": "collector",
    "uvicorn": "collector", "jinja2": "collector", "multipart": "collector", "yaml": "collector",
    "psycopg": "postgres", "boto3": "s3", "botocore": "s3", "openvino": "openvino", "nncf": "quantize",
    "onnx": "quantize", "matplotlib": "report",
}
"""The extra (``pip install 'edgelabel[EXTRA]'``) that brings each optional top-level module."""

BROKEN_PIPE_STATUS = 141
"""What a shell reports for a process ended by SIGPIPE (128 + 13)."""


def run_handler(prog: str, call: Callable[[], int], domain_errors: tuple[type[BaseException], ...]) -> int:
    """``call()``'s exit status, or one line on stderr and a non-zero status for the failures above.

    ``prog``: the command as the user typed it (``edgelabel-collector export``), for the line's start.
    """
    try:
        return call()
    except domain_errors as exc:
        return _fail(prog, str(exc))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly. Point stdout at /dev/null so the
        # interpreter's last flush at exit does not fail on the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE_STATUS
    except ModuleNotFoundError as exc:
        module = (exc.name or "").split(".")[0]
        if module not in EXTRA_OF_MODULE:
            raise
        return _fail(prog, f"{module} is not installed; this needs the '{EXTRA_OF_MODULE[module]}' extra: "
                           f"pip install 'edgelabel[{EXTRA_OF_MODULE[module]}]'")
    except OSError as exc:
        if exc.filename is None:
            raise  # not about a file the user named: a bug or an environment problem worth its traceback
        return _fail(prog, f"{exc.strerror or exc}: {exc.filename}")


def _fail(prog: str, message: str) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2
