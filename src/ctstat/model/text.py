"""Text from files made safe to show: control characters as escapes, long values cut, file names valid UTF-8.
Every stage quotes what a file holds through here (messages, the terminal, JSON, workbooks)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

#: the undecodable bytes of a file name not in UTF-8 (surrogate escapes), and the invisible marks that reorder the
#: text around them (right-to-left overrides and isolates: a name "abc\u202excod.exe" shows as "abcexe.docx")
_UNSHOWN_CHARS = "\ud800-\udfff\u200e\u200f\u202a-\u202e\u2066-\u2069"
#: control characters, and all of those
_CONTROL = re.compile(f"[\x00-\x1f\x7f-\x9f{_UNSHOWN_CHARS}]")
MAX_SHOWN = 80  #: characters of a cell value quoted in a message


def printable(text: str, limit: int | None = None) -> str:
    """`text` with control characters shown as escapes (\\x1b) and, past `limit`, cut with the length said."""
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}… ({len(text)})"
    return _CONTROL.sub(_escape, text)


def _escape(m: re.Match[str]) -> str:
    """One matched character as its Python escape (\\x1b, \\udcff, \\u202e)."""
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}"


def _utf8(text: str) -> bool:
    """Whether UTF-8 can write `text` (it cannot write the undecodable bytes of a file name, surrogate escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def path_text(path: str) -> str:
    """A file name for people and JSON: undecodable bytes (surrogate escapes) and control characters shown as
    escapes, so the text is valid UTF-8 and inert in a terminal."""
    return printable(path)


def raw_path(path: str) -> str | None:
    """The bytes of a file name that is not valid UTF-8, as hex (for scripts that must find the file); None if
    the name is valid UTF-8."""
    return None if _utf8(path) else path.encode("utf-8", "surrogateescape").hex()


_UNSHOWN = re.compile(f"[{_UNSHOWN_CHARS}]")  #: what a page shows as escapes (`shown_text`)


def shown_text(text: str) -> str:
    """`text` as a page shows it: what `_UNSHOWN` matches as escapes (\\udcf4, \\u202e), all else as it is (a
    page is UTF-8, which cannot hold the former; the latter would reorder what follows a file's name)."""
    return _UNSHOWN.sub(_escape, text)


def json_dumps(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """`json.dumps` keeping Vietnamese as it is, but where a string holds undecodable bytes of a file name
    (surrogate escapes, which UTF-8 cannot write): then every non-ASCII character is escaped (\\udcff), valid
    UTF-8 that json reads back to the very same text."""
    text = json.dumps(value, ensure_ascii=False, default=default)
    return text if _utf8(text) else json.dumps(value, default=default)


def stored_path(path: str) -> str | bytes:
    """A file name as a database stores it: as text, or, if it is not valid UTF-8, as its bytes (`read_path`
    gives back the same name)."""
    return path if _utf8(path) else path.encode("utf-8", "surrogateescape")


def read_path(stored: str | bytes) -> str:
    """A file name stored by `stored_path`, as the file system's functions take it."""
    return stored.decode("utf-8", "surrogateescape") if isinstance(stored, bytes) else stored
