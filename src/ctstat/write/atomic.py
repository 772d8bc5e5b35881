"""Atomic output: a file is written beside its target and renamed over it only once complete."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ctstat.model.text import json_dumps


@contextmanager
def atomic_write(path: str | Path) -> Iterator[str]:
    """Yield a temporary path beside `path`; rename it over `path` on success, remove it on any failure.

    A crash or a kill never leaves a half-written output under the real name.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes 0600: an output gets the mode any new file would
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def umask() -> int:
    """The process umask, read without changing it where the system says it (other threads may be writing)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def json_text(doc: Any, default: Callable[[Any], Any] | None = None, objects_by_key: bool = False) -> str:
    """`doc` as JSON a person can read and a national batch writes fast: a top-level object one key per line, a
    list under it one item per line (with `objects_by_key`, an object under it one key per line too), each item
    on its line written by json's C encoder (an indented document is written by its Python one: a second for ten
    thousand files). `default`: as json's (None: a value JSON cannot hold is an error)."""

    def one(value: Any) -> str:
        return json_dumps(value, default)  # (a file name that is not UTF-8: escaped, read back the same)

    if not isinstance(doc, dict) or not doc:
        return one(doc)
    lines = []
    for key, value in doc.items():
        if isinstance(value, list) and value:
            items = ",\n".join(f"    {one(item)}" for item in value)
            lines.append(f"  {one(str(key))}: [\n{items}\n  ]")
        elif objects_by_key and isinstance(value, dict) and value:
            items = ",\n".join(f"    {one(str(k))}: {one(v)}" for k, v in value.items())
            lines.append(f"  {one(str(key))}: {{\n{items}\n  }}")
        else:
            lines.append(f"  {one(str(key))}: {one(value)}")
    return "{\n" + ",\n".join(lines) + "\n}"
