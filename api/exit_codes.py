"""How the ``rapport`` command line ends: the one table of exit codes and the one error handler.

====  ============================================================================================
code  meaning
====  ============================================================================================
0     ok
1     a finding: Rapport read the user's input and rejected it — an invalid rules file of any kind
      (``scorecard.yaml``, ``clients.yaml``, ``collectors.yaml``, ``tests/*.yaml``), a failed rule
      test, rejected import rows, a failed collector (the others still ran)
2     a usage or environment error: an unknown option or a bad option value, a missing file,
      invalid settings, an unreachable store, a busy port
====  ============================================================================================

A command never prints its own error and never picks a code: it raises a ``RapportError`` (a
``FindingsError`` for a finding) and :class:`RapportGroup`, the root command's class, turns it
into one ``error: <message>`` line on stderr and the code above; findings (one
``path:line:col: key: message`` line each) follow in the message, or come before it on stdout when
the command lists them itself (``rules check``). click's own usage errors take the same path, so
every failure reads the same and a user's mistake never shows a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from enum import IntEnum
from typing import Any, NoReturn

import typer
from typer._click import exceptions as click_exceptions  # typer vendors click; no public alias
from typer.core import TyperGroup

from rapport.engine.errors import FindingsError, RapportError

ERROR_PREFIX = "error: "


class ExitCode(IntEnum):
    """The exit codes of every ``rapport`` command (see the module docstring)."""

    OK = 0
    FINDING = 1
    USAGE = 2


def exit_code_of(error: RapportError) -> ExitCode:
    """A finding exits 1; every other error Rapport raises on purpose is usage or environment."""
    return ExitCode.FINDING if isinstance(error, FindingsError) else ExitCode.USAGE


def print_error(message: str) -> None:
    """``message`` on stderr behind the one ``error:`` prefix."""
    typer.echo(ERROR_PREFIX + message, err=True)


class UsageError(RapportError):
    """A command line that cannot be run as given (a bad option value, a missing file)."""


class BadChoiceError(UsageError):
    """An option given a value outside its choices."""

    def __init__(self, option: str, value: str, choices: Sequence[str]) -> None:
        listed = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
        super().__init__(f"{option} must be {listed}, not {value!r}")


class FindingsReportedError(FindingsError):
    """A command printed its findings (or failures) itself; this only ends it with exit 1."""


class RapportGroup(TyperGroup):
    """The root ``rapport`` group: the only place that maps exceptions to exit codes."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except RapportError as error:
            print_error(str(error))
            sys.exit(exit_code_of(error))
        except typer.Abort:
            print_error("aborted")
            sys.exit(ExitCode.FINDING)
        except click_exceptions.ClickException as error:
            _report_click_error(error)
        sys.exit(code if isinstance(code, int) else ExitCode.OK)


def _report_click_error(error: click_exceptions.ClickException) -> NoReturn:
    """click's own errors (``No such option``, a bad value) as usage, hint and ``error:`` line."""
    if isinstance(error, click_exceptions.NoArgsIsHelpError):
        error.show()  # `rapport` alone prints its help, as before
        sys.exit(error.exit_code)
    ctx = getattr(error, "ctx", None)
    if isinstance(error, click_exceptions.UsageError) and ctx is not None:
        hint = f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help."
        typer.echo(f"{ctx.get_usage()}\n{hint}\n", err=True)
    print_error(error.format_message())
    sys.exit(error.exit_code)
