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
_PATH_VI = {"path": "đường dẫn", "file": "tệp", "dir": "thư mục", "directory": "thư mục"}
#: what the system says of a file it cannot open (click's FileError and typer's file options carry strerror)
_STRERROR_VI = {
    "No such file or directory": "không tồn tại",
    "Permission denied": "không có quyền truy cập",
    "Is a directory": "là thư mục, không phải tệp",
    "Not a directory": "không phải thư mục",
    "Read-only file system": "hệ thống tệp chỉ cho đọc",
    "No space left on device": "hết chỗ trên đĩa",
}
#: pydantic's error types (typer converts values with pydantic) -> what the value should be
_PYDANTIC_VI = {
    "int": "phải là số nguyên",
    "float": "phải là số",
    "decimal": "phải là số",
    "bool": "phải là true hoặc false",
    "string": "phải là chữ",
    "path": "phải là đường dẫn",
    "date": "phải là ngày (YYYY-MM-DD)",
    "datetime": "phải là thời điểm (YYYY-MM-DDTHH:MM)",
    "enum": "không phải là một giá trị được phép",
    "literal": "không phải là một giá trị được phép",
}

#: a usage error's English message -> its Vietnamese (first match wins); every message click and typer can raise
#: is here (tests/test_cli.py enumerates them from typer's source)
_MESSAGES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(r"Missing (argument|option|parameter) (.+?)\.?$"),
        lambda m: f"Thiếu {_KIND_VI[m[1]]} {m[2]}.",
    ),
    (re.compile(r"Missing (argument|option|parameter)\.?$"), lambda m: f"Thiếu {_KIND_VI[m[1]]}."),
    (re.compile(r"Missing command\.?$"), lambda m: "Thiếu lệnh."),
    (
        re.compile(r"No such option: (\S+) \(Possible options: (.+)\)$"),
        lambda m: f"Không có tùy chọn {m[1]} (có phải ý bạn là: {m[2]}?)",
    ),
    (re.compile(r"No such option: (\S+)$"), lambda m: f"Không có tùy chọn {m[1]}."),
    (
        re.compile(r"No such command '(.+)'\. Did you mean (.+)\?$"),
        lambda m: f"Không có lệnh '{m[1]}'. Có phải ý bạn là {m[2].replace(', ', ' hoặc ')}?",
    ),
    (re.compile(r"No such command '(.+)'\.?$"), lambda m: f"Không có lệnh '{m[1]}'."),
    (re.compile(r"Option '(.+)' requires an argument\.?$"), lambda m: f"Tùy chọn '{m[1]}' cần một giá trị."),
    (re.compile(r"Option '(.+)' requires (\d+) arguments\.?$"), lambda m: f"Tùy chọn '{m[1]}' cần {m[2]} giá trị."),
    (re.compile(r"Option '(.+)' does not take a value\.?$"), lambda m: f"Tùy chọn '{m[1]}' không nhận giá trị."),
    (re.compile(r"Argument '(.+)' takes (\d+) values\.?$"), lambda m: f"Tham số '{m[1]}' cần {m[2]} giá trị."),
    (re.compile(r"Got unexpected extra arguments? \((.+)\)$", re.S), lambda m: f"Thừa tham số ({m[1]})."),
    (re.compile(r"Got unexpected extra argument\(s\) \((.+)\)$", re.S), lambda m: f"Thừa tham số ({m[1]})."),
    (re.compile(r"Could not open file (.+): (.+)$", re.S), lambda m: f"Không mở được tệp {m[1]}: {_strerror(m[2])}."),
    (
        re.compile(r"Invalid value for (.+?): (.+)$", re.S),
        lambda m: f"Giá trị không hợp lệ cho {m[1]}: {_detail(m[2])}",
    ),
    (re.compile(r"Invalid value: (.+)$", re.S), lambda m: f"Giá trị không hợp lệ: {_detail(m[1])}"),
    (re.compile(r"(Value .+|Input .+)$", re.S), lambda m: f"Giá trị không hợp lệ: {_detail(m[1])}"),
]
_PATH = r"(path|file|dir|directory)"  #: how typer names a path parameter's kind
_DETAILS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(_PATH + r" (.+) does not exist\.$"), lambda m: f"{_PATH_VI[m[1]]} {m[2]} không tồn tại."),
    (re.compile(_PATH + r" (.+) is a directory\.$"), lambda m: f"{m[2]} là thư mục, không phải tệp."),
    (re.compile(_PATH + r" (.+) is a file\.$"), lambda m: f"{m[2]} là tệp, không phải thư mục."),
    (re.compile(_PATH + r" (.+) is not readable\.$"), lambda m: f"không đọc được {m[2]}."),
    (re.compile(_PATH + r" (.+) is not writable\.$"), lambda m: f"không ghi được vào {m[2]}."),
    (re.compile(r"(.+) is not a valid integer( range)?\.?$"), lambda m: f"{m[1]} không phải là số nguyên."),
    (re.compile(r"(.+) is not a valid float( range)?\.?$"), lambda m: f"{m[1]} không phải là số."),
    (re.compile(r"(.+) is not one of (.+)\.$"), lambda m: f"{m[1]} không phải là một trong {m[2]}."),
    (re.compile(r"Value must be an iterable\.$"), lambda m: "cần một hoặc nhiều giá trị."),
    (re.compile(r"Value (.+) is not a valid (.+)\.$", re.S), lambda m: f"{m[1]} không phải là giá trị hợp lệ."),
    (re.compile(r"('.+'): (.+)$", re.S), lambda m: f"không mở được {m[1]}: {_strerror(m[2])}."),
    (re.compile(r"Input should be a valid (\w+)"), lambda m: _PYDANTIC_VI.get(m[1], "giá trị không đúng kiểu") + "."),
    (re.compile(r"(Input|Value) ", re.S), lambda m: "giá trị không đúng kiểu."),
]


def translate(message: str) -> str:
    """A usage error's message in Vietnamese. A message this module does not know (none of click's or typer's,
    a test checks) is said to be a command-line error, the original in brackets."""
    vi = _first(_MESSAGES, message)
    return vi if vi is not None else f"Dòng lệnh không đúng ({message})."


def message(exc: Any) -> str:
    """The Vietnamese message of a click/typer exception. A value that pydantic refused is said from the error's
    type (its English text varies with the pydantic version)."""
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if callable(errors) and type(cause).__name__ == "ValidationError":
        kind = str((errors() or [{}])[0].get("type", "")).split("_")[0]
        detail = _PYDANTIC_VI.get(kind, "giá trị không đúng kiểu") + "."
        hint = getattr(exc, "param_hint", None) or (exc.param.get_error_hint() if getattr(exc, "param", None) else "")
        if not isinstance(hint, str):
            hint = " / ".join(repr(x) for x in hint)
        return f"Giá trị không hợp lệ cho {hint}: {detail}" if hint else f"Giá trị không hợp lệ: {detail}"
    return translate(exc.format_message())


def _detail(text: str) -> str:
    vi = _first(_DETAILS, text)
    return vi if vi is not None else f"giá trị không đúng ({text})."


def _strerror(text: str) -> str:
    return _STRERROR_VI.get(text.strip().rstrip("."), text)


def _first(table: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]], text: str) -> str | None:
    for pattern, vi in table:
        m = pattern.match(text)
        if m:
            return vi(m)
    return None


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


#: what a parameter's value is, shown in the help and the usage line (typer shows the Python type: <list[Path]>,
#: <str>, {paths}): by the parameter's name, else by the kind of path it takes
VALUE_WORDS = {
    "paths": ("TỆP_HOẶC_THƯ_MỤC", "FILE_OR_FOLDER"),
    "period": ("KỲ", "PERIOD"),
    "units": ("DANH_MỤC", "UNIT_LIST"),
    "unit": ("MÃ", "CODE"),
    "rotate": ("MÃ", "CODE"),
    "element": ("MÃ", "CODE"),
    "deadline": ("NGÀY", "DATE"),
    "generated_at": ("THỜI_ĐIỂM", "TIME"),
    "lang": ("vi|en", "vi|en"),
    "host": ("ĐỊA_CHỈ", "ADDRESS"),
    "port": ("SỐ", "NUMBER"),
    "jobs": ("SỐ", "NUMBER"),
    "seed": ("SỐ", "NUMBER"),
    "inbox": ("THƯ_MỤC", "FOLDER"),
    "config": ("TỆP", "FILE"),
    "log": ("TỆP", "FILE"),
    "ward": ("MÃ_XÃ", "WARD_CODE"),
    "why": ("LÝ_DO", "REASON"),
    "excuse": ("MÃ=LÝ_DO", "CODE=REASON"),
    "cell": ("Ô", "CELL"),
    "value": ("SỐ", "NUMBER"),
    "name": ("TÊN", "NAME"),
    "signer": ("TÊN=TỆP_KHÓA", "NAME=KEY_FILE"),
    "trusted_root": ("TỆP", "FILE"),
    "sources": ("NGUỒN", "SOURCE"),
    "limit": ("SỐ", "NUMBER"),
    "note": ("GHI_CHÚ", "NOTE"),
}
PATH_WORDS = {
    (True, False): ("TỆP", "FILE"),
    (False, True): ("THƯ_MỤC", "FOLDER"),
    (True, True): ("TỆP_HOẶC_THƯ_MỤC", "FILE_OR_FOLDER"),
}


def value_word(param: Any, lang: str) -> str | None:
    """The word for what `param` takes (None: a flag, that takes nothing)."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    words = VALUE_WORDS.get(param.name)
    desc = getattr(param, "type_descriptor", None)
    if words is None and desc is not None and desc.is_path:
        info = desc.parameter_info
        words = PATH_WORDS[(bool(info.file_okay), bool(info.dir_okay))]
    if words is None:
        raise KeyError(f"no word for the value of {param.name!r}: add it to clitext.VALUE_WORDS")
    return words[0] if lang == "vi" else words[1]


def value_words(commands: list[Any], lang: str) -> None:
    """Name what each parameter of these click commands takes, in `lang`: '--period KỲ', 'TỆP_HOẶC_THƯ_MỤC...'."""
    for cmd in commands:
        for param in cmd.params:
            word = value_word(param, lang)
            if word is None:
                continue
            if getattr(param, "param_type_name", "") == "argument":
                many = "..." if param.nargs != 1 else ""
                shown = f"{word}{many}" if param.required else f"[{word}]{many}"
                param.metavar = f"{word}{many}"
                param._usage_display_name = lambda shown=shown: shown
                param.display_type_rich = lambda ctx: None  # the word says it: no <list[Path]> beside it
            else:
                param.metavar = word


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
    out.write(f"Lỗi: {message(exc)}\n")
