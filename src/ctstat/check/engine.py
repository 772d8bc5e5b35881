"""Loading the checks' engine, pandas and pandera, once per process, and without pyarrow where no one needs it.

pandas (3) imports pyarrow whenever it is installed (about 0.06 s, an eighth of checking one file from the
command line), only to back its text columns with it. ctstat itself uses pyarrow in the history
(`job/history*.py`) and to export Parquet (`ctstat export`). A command line that touches neither (`validate` and
`rollup` without `--history`, run as a process of their own) says so (`without_arrow`) before pandas is first
imported, and pandas is then loaded as on a machine without pyarrow: text columns are held by Python, every number
and every message is the same (tests/test_engine.py compares a report and a rollup made each way). In such a process the
history refuses to load (`require_arrow`), as a bug, instead of handing pyarrow's tables to a pandas that does not
know them."""

from __future__ import annotations

import sys
import threading

_LOCK = threading.Lock()
_STATE = {"asked": False, "hidden": False}  #: a command said it needs no pyarrow; pandas was loaded without it


def without_arrow() -> None:
    """Said by a command line that will neither read nor write the history: pandas, when it is first loaded,
    is loaded without pyarrow. Nothing changes if pandas or pyarrow is loaded already."""
    _STATE["asked"] = True


def load() -> None:
    """Import pandas and pandera (`pandera.pandas`), hiding pyarrow from both if `without_arrow` was said and
    neither pandas nor pyarrow is loaded yet. Safe from any thread."""
    with _LOCK:
        hide = _STATE["asked"] and "pandas" not in sys.modules and "pyarrow" not in sys.modules
        if hide:  # an entry of None makes `import pyarrow` fail as if it were not installed (the import system's rule)
            # (the reading workers never import pandas or pyarrow: one forked meanwhile inherits the entry harmlessly)
            sys.modules["pyarrow"] = None  # type: ignore[assignment]
        try:
            import pandas  # noqa: F401
            import pandera.pandas  # noqa: F401
        finally:
            if hide:
                del sys.modules["pyarrow"]
        if hide:  # (not said if the import failed: that error is the import's own)
            _STATE["hidden"] = True


def require_arrow(user: str) -> None:
    """Raise (a bug: exit 3) if pandas was loaded without pyarrow in this process: `user` (a module of the
    history) needs both to know each other."""
    if _STATE["hidden"]:
        raise RuntimeError(f"{user}: pandas was loaded without pyarrow in this process (check.engine.without_arrow)")
