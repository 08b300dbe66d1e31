"""The one exception type for expected failures, and the exit statuses of the `bench` command.

Every failure a user can cause (bad paths, bad data, bad options) is raised as `BenchError`; the CLI
(bench.cli) prints it as one `Error: ...` line and exits with its `exit_code`, so no traceback reaches
the user for anything we anticipated. This module imports nothing, so that any room, at any floor, can
raise it without pulling in click.

Anything else that escapes a command is a bug of bench, not a fault of the user's files: the CLI says so
in one line (`Error: internal error of bench (a bug, not a damaged file): TypeError: ...`) and exits with
`EXIT_INTERNAL`; `bench --debug` shows its traceback instead.
"""

# Exit statuses of `bench` (documented in `bench --help`):
EXIT_OK = 0            # the command did what it said
EXIT_ERROR = 1         # an expected failure (a BenchError): bad input, damaged artifact, refused run
EXIT_USAGE = 2         # a usage error found by click (unknown option, value out of range)
EXIT_INTERNAL = 70     # a bug of bench (sysexits' EX_SOFTWARE), never a damaged file or bad input
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


class BenchError(Exception):
    """An expected failure, shown to the user as one line."""

    exit_code = EXIT_ERROR  # status the CLI exits with

    def __init__(self, message: str):
        # Collapse to one line: multi-line messages read as crashes.
        self.message = " ".join(str(message).split())
        super().__init__(self.message)

    def format_message(self) -> str:
        """The one-line message (the name click's exceptions use, kept for callers written against them)."""
        return self.message

    def __str__(self) -> str:
        return self.message
