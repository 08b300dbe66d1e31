"""The `bench` console script. It imports nothing heavy itself, so that Ctrl-C even while click, torch
and numpy load is one line and exit status 130, not a traceback."""

import sys

from bench.errors import EXIT_INTERRUPTED  # bench.errors imports nothing


def main() -> None:
    try:
        from bench.cli import main as run

        run()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
