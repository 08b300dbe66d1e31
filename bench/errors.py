"""The one exception type for expected failures.

Every failure a user can cause (bad paths, bad data, bad options) is raised as
`BenchError`; the CLI turns it into a one-line message and exit status 1, so no
traceback reaches the user for anything we anticipated.
"""

import click


class BenchError(click.ClickException):
    """An expected failure, shown to the user as one line."""

    def __init__(self, message: str):
        # Collapse to one line: multi-line messages read as crashes.
        super().__init__(" ".join(str(message).split()))
