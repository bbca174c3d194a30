"""Logging set-up shared by the agent's and the collector's commands: one line per event, to stderr."""

import logging


def configure(verbosity: int) -> None:
    """0 = warnings and the events that matter (INFO), 1 or more = debug, -1 = errors only."""
    level = {-1: logging.ERROR, 0: logging.INFO, 1: logging.DEBUG}[max(-1, min(1, verbosity))]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
