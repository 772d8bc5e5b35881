"""The one place where what a command did becomes an exit code and a message (README, "Commands").

A command returns its result (anything with `ok`: a `Report`, a `RollupResult`, a `RunResult`, a `Verdict`) or
nothing, and raises when it cannot go on. Here, and nowhere else:
- a result that is not `ok` (an error in the data, a rollup refused, someone must act): exit 1;
- `CtstatError` (usage error, invalid catalogue, nothing to do): its message in the line's language, exit 2;
- a click usage error: its message (in Vietnamese by default), its code (2);
- a fault of the machine (`EnvironmentFault`, a full disk, a forbidden place): one line, exit 3;
- anything else is a bug of ctstat: one line (the traceback with --debug), exit 3, never 1 (`fault`);
- an interrupt (Ctrl-C): exit 130.

`Entry` is the top command group (`cli/commands.py` makes its app with it), so a command run through the app
(tests, `typer.testing.CliRunner`) meets the same mapping as one run by the console script (`main`).
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

import typer
from typer.core import TyperGroup

from ctstat.model.errors import CtstatError, EnvironmentFault

OK, PROBLEMS, USAGE, FAULT, INTERRUPTED = 0, 1, 2, 3, 130


class Outcome(Protocol):
    """What a command returns when its exit code depends on the data: 0 when `ok`, else 1."""

    @property
    def ok(self) -> bool: ...


@dataclass(frozen=True)
class Verdict:
    """The result of a command whose own result has no `ok` of its own (`status`: the period is complete)."""

    ok: bool


def line_lang(argv: Sequence[str]) -> str:
    """The language of the line: its last --lang (a command's after the line's), else CTSTAT_LANG, else
    Vietnamese; anything but en is Vietnamese."""
    value = os.environ.get("CTSTAT_LANG", "vi")
    for i, arg in enumerate(argv):
        if arg == "--lang" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--lang="):
            value = arg.split("=", 1)[1]
    return "en" if value.lower() == "en" else "vi"


class Entry(TyperGroup):
    """The top command group: every command's result or refusal becomes its exit code here."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta["ctstat.line"] = list(args)  # the whole line, for the language of a refusal
        return list(super().parse_args(ctx, args))

    def invoke(self, ctx: Any) -> Any:
        click_exceptions = _click_exceptions()
        #: a usage error, an exit asked for, an abort (end of input at a prompt: typer's 130): their own codes
        theirs: tuple[type[BaseException], ...] = (click_exceptions.ClickException, typer.Exit, typer.Abort, EOFError)
        theirs += tuple(getattr(click_exceptions, n) for n in ("Exit", "Abort") if hasattr(click_exceptions, n))
        try:
            result = super().invoke(ctx)
        except CtstatError as exc:
            refuse(exc, line_lang(ctx.meta.get("ctstat.line", ())))
            raise typer.Exit(USAGE) from None
        except theirs:
            raise
        except Exception as exc:  # noqa: BLE001 - a fault of the machine, or a bug: exit 3, never 1
            if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
                raise  # the reader went away (`ctstat ... | head`): typer's own quiet exit
            raise typer.Exit(fault(exc)) from None
        if result is None:
            return None
        raise typer.Exit(OK if result.ok else PROBLEMS)


def refuse(exc: CtstatError, lang: str) -> None:
    """A domain error on stderr: one line in the line's language, then its located problems."""
    from rich.text import Text

    from ctstat.cli.render import make_consoles
    from ctstat.model.text import printable

    _, err = make_consoles()
    text = exc.message_vi if lang == "vi" and exc.message_vi else str(exc)
    err.print(Text.assemble(("ctstat:", "bold red"), " ", printable(text)))
    for issue in exc.issues:
        err.print(f"  {printable(issue.message('vi' if lang == 'vi' else 'en'))}")


def main(command: Callable[[], Any]) -> NoReturn:
    """The console script: the click command `command()` makes, run; every way it ends, its exit code."""
    if "--debug" in sys.argv[1:]:  # accepted anywhere on the line, not only before the command
        sys.argv.remove("--debug")
        os.environ["CTSTAT_DEBUG"] = "1"
    try:
        code = run(command())
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.stderr.write("ctstat: interrupted\n")
        raise SystemExit(INTERRUPTED) from None
    except BaseException as exc:  # noqa: BLE001 - a bug, whatever its type, must not look like exit 1
        raise SystemExit(fault(exc)) from None
    raise SystemExit(code)


def fault(exc: BaseException) -> int:
    """Exit 3, said in one line: a fault of the machine (a full disk, a forbidden place) or a bug of ctstat."""
    if isinstance(exc, EnvironmentFault):
        return _environment(str(exc))
    if isinstance(exc, OSError) and exc.errno in MACHINE_ERRNOS:
        where = f" {exc.filename}" if exc.filename else ""
        return _environment(f"cannot write or read{where}: {exc.strerror}")
    return _internal_error(exc)


def _click_exceptions() -> Any:
    try:
        from typer._click import exceptions
    except ImportError:  # a typer that uses click itself
        from click import exceptions  # type: ignore[no-redef]
    return exceptions


def run(cmd: Any) -> int:
    """Run the click command as typer would (exit codes as ever), a usage error shown in the line's language."""
    click_exceptions = _click_exceptions()
    from typer.exceptions import Abort as TyperAbort

    aborts = (TyperAbort, getattr(click_exceptions, "Abort", TyperAbort))

    try:
        code = cmd.main(standalone_mode=False)
    except click_exceptions.ClickException as exc:
        if line_lang(sys.argv[1:]) == "vi" and not isinstance(exc, click_exceptions.NoArgsIsHelpError):
            from ctstat.cli.clitext import show_usage_error

            show_usage_error(exc)  # a usage error, or a file click could not open: in Vietnamese
        else:
            exc.show()
        return int(exc.exit_code)
    except aborts:
        sys.stderr.write("ctstat: interrupted\n")
        return INTERRUPTED
    if code == INTERRUPTED:  # typer turns a Ctrl-C inside a command into exit 130 without a word
        sys.stderr.write("ctstat: interrupted\n")
    return code if isinstance(code, int) else OK


#: faults of the machine, not of ctstat or of the data: a full disk, a read-only or forbidden place, I/O errors
MACHINE_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.EIO,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,  # a folder to make where a file stands (what a command line could not check beforehand)
    errno.EMFILE,
    errno.ENFILE,
}


def _environment(message: str) -> int:
    from ctstat.model.text import printable

    sys.stderr.write(
        f"ctstat: cannot go on (lỗi môi trường): {printable(message, 600)}\n"
        "This is a problem of this machine (disk space, permissions), not of the data nor a bug of ctstat. "
        "Nothing half-done was kept: fix it and run again.\n"
    )
    return FAULT


def _internal_error(exc: BaseException) -> int:
    import traceback

    from ctstat.model.errors import InternalError, processing
    from ctstat.model.text import printable

    where = exc.path if isinstance(exc, InternalError) else processing["file"]
    about = f" while processing {printable(where)}" if where else ""
    last = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
    sys.stderr.write(
        f"ctstat: internal error (lỗi nội bộ){about}: {type(exc).__name__}: {printable(last, 300)}\n"
        "This is a bug in ctstat, not a problem of the data. Run again with --debug (or CTSTAT_DEBUG=1) for the "
        "traceback and report it.\n"
    )
    if os.environ.get("CTSTAT_DEBUG") == "1":
        if isinstance(exc, InternalError):
            sys.stderr.write(exc.detail)
        traceback.print_exception(exc)
    return FAULT
