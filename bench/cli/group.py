"""The `bench` click group's behaviour: every error is one line, warnings wait for success, and a bug of
bench is named as one (exit statuses: bench.errors)."""

from __future__ import annotations

import sys

import click

from bench.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, BenchError


class BenchGroup(click.Group):
    def make_context(self, info_name, args, parent=None, **extra):
        argv = ["bench", *args]
        ctx = super().make_context(info_name, args, parent=parent, **extra)
        # Recorded in the manifest as the command that reproduces the run.
        ctx.meta["bench.argv"] = argv
        return ctx

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Click's standalone handling, except that every error is one line (usage errors included)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            empty = self.empty_env_vars(list(sys.argv[1:] if args is None else args))
            if empty:
                raise click.UsageError(f"environment variable {empty[0]} is set but empty, which names nothing; "
                                       f"unset it (unset {empty[0]}) or give it a value")
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except (KeyboardInterrupt, EOFError, click.exceptions.Abort):
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except BenchError as exc:
            click.echo(f"Error: {exc.message}", err=True)
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "bench"
            click.echo(f"Error: {' '.join(exc.format_message().split())} (see '{where} --help')", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"Error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)

    def empty_env_vars(self, argv: list[str]) -> list[str]:
        """The environment variables of the command in `argv` that are set to an empty value. Click would read
        them as unset and fall back to the default silently; bench refuses them by name, as it refuses an empty
        option value."""
        import os

        name = next((a for a in argv if not a.startswith("-")), None)
        stack = [self.commands[name]] if name in self.commands else []
        names: set[str] = set()
        while stack:
            command = stack.pop()
            for param in command.params:
                envvar = param.envvar
                names.update([envvar] if isinstance(envvar, str) else list(envvar or ()))
            stack.extend(getattr(command, "commands", {}).values())
        return sorted(n for n in names if n in os.environ and not os.environ[n].strip())

    def invoke(self, ctx):
        import warnings

        # Warnings are held back until the command succeeds: an error is then the only line printed,
        # and the warnings that remain are shown once each, one line per warning.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = super().invoke(ctx)
            except KeyboardInterrupt:
                # Every checkpoint is complete on disk, so stopping training loses at most one epoch.
                training = ctx.invoked_subcommand in ("train", "all")
                click.echo("interrupted" + ("; the last finished epoch is checkpointed, re-run the same command to "
                                            "resume" if training else ""), err=True)
                raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
            except MemoryError:
                raise BenchError("out of memory; use a smaller --image-size or fewer models at once") from None
            except BenchError as exc:
                cause = getattr(exc, "cause", None)
                if cause is not None and ctx.obj and ctx.obj.get("debug"):
                    # A user's model failed inside a job: --debug shows its code's traceback, then the line.
                    import traceback

                    click.echo("".join(traceback.format_exception(cause)).rstrip(), err=True)
                raise
            except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
                raise
            except OSError as exc:
                if ctx.obj and ctx.obj.get("debug"):
                    raise
                # A fault of the environment that no artifact writer anticipated (e.g. a read-only temp folder).
                where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
                raise BenchError(f"{exc.strerror or str(exc) or type(exc).__name__}{where}") from None
            except Exception as exc:
                if ctx.obj and ctx.obj.get("debug"):
                    raise
                raise InternalError(exc) from None
        for message in worth_showing(caught):
            click.echo(f"warning: {message}", err=True)
        return result


class InternalError(BenchError):
    """An exception nobody anticipated: a bug of bench, said so in one line instead of a traceback."""

    exit_code = EXIT_INTERNAL

    def __init__(self, exc: BaseException):
        detail = " ".join(str(exc).split())
        super().__init__(f"internal error of bench (a bug, not a damaged file or bad input): "
                         f"{type(exc).__name__}{': ' + detail if detail else ''}; `bench --debug ...` shows "
                         "the traceback")


def worth_showing(caught) -> list[str]:
    """Distinct warning messages, without those a user cannot act on (library deprecations and internals)."""
    shown = []
    for w in caught:
        if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
            continue
        message = " ".join(str(w.message).split())
        if any(noise in message for noise in IGNORED_WARNINGS) or message in shown:
            continue
        shown.append(message)
    return shown


# Third-party warnings that say nothing a user of bench could change.
IGNORED_WARNINGS = (
    "NumPy array is not writable",       # torch.from_numpy on read-only pickled arrays; we never write them
    "TypedStorage is deprecated",
    "To copy construct from a tensor",
    "Glyph",                             # matplotlib font coverage notes
    "findfont",
)
