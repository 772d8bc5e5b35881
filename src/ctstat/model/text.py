"""Text from files made safe to show: control characters as escapes, long values cut, file names valid UTF-8.
Every stage quotes what a file holds through here (messages, the terminal, JSON, workbooks)."""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
MAX_SHOWN = 80  #: characters of a cell value quoted in a message


def printable(text: str, limit: int | None = None) -> str:
    """`text` with control characters shown as escapes (\\x1b) and, past `limit`, cut with the length said."""
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}… ({len(text)})"
    return _CONTROL.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}", text
    )


def path_text(path: str) -> str:
    """A file name for people and JSON: undecodable bytes (surrogate escapes) and control characters shown as
    escapes, so the text is valid UTF-8 and inert in a terminal."""
    return printable(path)


def raw_path(path: str) -> str | None:
    """The bytes of a file name that is not valid UTF-8, as hex (for scripts that must find the file); None if
    the name is valid UTF-8."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").hex()
    return None
