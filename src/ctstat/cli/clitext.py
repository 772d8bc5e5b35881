"""The command line's own words in Vietnamese: what click and typer print around ctstat's texts (the help's
headings, "[required]", the help option, usage errors such as a missing argument or a path that does not exist).

Typer ships its own copy of click, whose strings are plain English, not gettext: the help option and the usage
prefix are replaced on the command typer built, the few strings typer passes through gettext are given here, and
a usage error is shown by `show_usage_error` with its message translated from the English text (the exception
kinds carry no more than that). A message this module does not know is shown as it is.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from functools import cache
from typing import Any

#: what typer passes through gettext in its help texts
GETTEXT_VI = {
    "Arguments": "Tham số",
    "Options": "Tùy chọn",
    "Commands": "Lệnh",
    "required": "bắt buộc",
    "default: {default}": "mặc định: {default}",
    "env var: {var}": "biến môi trường: {var}",
}
HELP_OPTION_VI = "Hiện trợ giúp này rồi thoát."
USAGE_VI = "Cách dùng: "

_KIND_VI = {"argument": "tham số", "option": "tùy chọn", "parameter": "tham số"}
_PATH_VI = {"path": "đường dẫn", "file": "tệp", "directory": "thư mục"}

#: a usage error's English message -> its Vietnamese (first match wins)
_MESSAGES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(r"Missing (argument|option|parameter) (.+?)\.?$"),
        lambda m: f"Thiếu {_KIND_VI[m[1]]} {m[2]}.",
    ),
    (
        re.compile(r"No such option: (\S+) \(Possible options: (.+)\)$"),
        lambda m: f"Không có tùy chọn {m[1]} (có phải ý bạn là: {m[2]}?)",
    ),
    (re.compile(r"No such option: (\S+)$"), lambda m: f"Không có tùy chọn {m[1]}."),
    (re.compile(r"No such command '(.+)'\.?$"), lambda m: f"Không có lệnh '{m[1]}'."),
    (re.compile(r"Option '(.+)' requires an argument\.?$"), lambda m: f"Tùy chọn '{m[1]}' cần một giá trị."),
    (re.compile(r"Got unexpected extra arguments? \((.+)\)$"), lambda m: f"Thừa tham số ({m[1]})."),
    (
        re.compile(r"Invalid value for (.+?): (.+)$", re.S),
        lambda m: f"Giá trị không hợp lệ cho {m[1]}: {_detail(m[2])}",
    ),
    (re.compile(r"Invalid value: (.+)$", re.S), lambda m: f"Giá trị không hợp lệ: {_detail(m[1])}"),
]
_DETAILS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"(path|file|directory) (.+) does not exist\.$"), lambda m: f"{_PATH_VI[m[1]]} {m[2]} không tồn tại."),
    (re.compile(r"(path|file|directory) (.+) is a directory\.$"), lambda m: f"{m[2]} là thư mục, không phải tệp."),
    (re.compile(r"(path|file|directory) (.+) is a file\.$"), lambda m: f"{m[2]} là tệp, không phải thư mục."),
    (re.compile(r"(path|file|directory) (.+) is not readable\.$"), lambda m: f"không đọc được {m[2]}."),
    (re.compile(r"(path|file|directory) (.+) is not writable\.$"), lambda m: f"không ghi được vào {m[2]}."),
    (re.compile(r"(.+) is not a valid integer( range)?\.?$"), lambda m: f"{m[1]} không phải là số nguyên."),
    (re.compile(r"Input should be a valid integer"), lambda m: "phải là số nguyên."),
    (re.compile(r"Input should be a valid number"), lambda m: "phải là số."),
    (re.compile(r"(.+) is not a valid float( range)?\.?$"), lambda m: f"{m[1]} không phải là số."),
    (re.compile(r"(.+) is not one of (.+)\.$"), lambda m: f"{m[1]} không phải là một trong {m[2]}."),
]


def translate(message: str) -> str:
    """A usage error's message in Vietnamese (unchanged if this module does not know it)."""
    return _first(_MESSAGES, message)


def _detail(text: str) -> str:
    return _first(_DETAILS, text)


def _first(table: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]], text: str) -> str:
    for pattern, vi in table:
        m = pattern.match(text)
        if m:
            return vi(m)
    return text


def vietnamese(commands: list[Any]) -> None:
    """Put the help option, the usage line and typer's gettext strings of these click commands in Vietnamese."""
    import typer.core

    if getattr(typer.core, "_", None) is not None:
        setattr(typer.core, "_", lambda text: GETTEXT_VI.get(text, text))  # noqa: B010 - typer's own name for it
    for cmd in commands:
        _help_option(cmd)
        cmd.context_class = _vi_context(cmd.context_class)
        if getattr(cmd, "options_metavar", None) == "[OPTIONS]":
            cmd.options_metavar = "[TÙY CHỌN]"
        if getattr(cmd, "subcommand_metavar", None) == "COMMAND [ARGS]...":
            cmd.subcommand_metavar = "LỆNH [THAM SỐ]..."


def _help_option(cmd: Any) -> None:
    made = cmd.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = made(ctx)
        if option is not None:
            option.help = HELP_OPTION_VI
        return option

    cmd.get_help_option = get_help_option


@cache
def _vi_context(base: type) -> type:
    formatter = base.formatter_class  # type: ignore[attr-defined]

    class ViFormatter(formatter):  # type: ignore[misc,valid-type]
        def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
            super().write_usage(prog, args, USAGE_VI if prefix is None else prefix)

    return type("ViContext", (base,), {"formatter_class": ViFormatter})


def show_usage_error(exc: Any) -> None:
    """What click's `UsageError.show` prints (the usage line, where to find help, the error), in Vietnamese."""
    ctx = getattr(exc, "ctx", None)
    out = sys.stderr
    if ctx is not None:
        out.write(ctx.get_usage() + "\n")
        if ctx.command.get_help_option(ctx) is not None:
            out.write(f"Xem '{ctx.command_path} {ctx.help_option_names[0]}' để được trợ giúp.\n")
        out.write("\n")
    out.write(f"Lỗi: {translate(exc.format_message())}\n")
