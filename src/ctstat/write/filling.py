"""Filled forms written in kept worker processes (a server's): the portal's typed reports (web/entry.py).

A form takes tens of milliseconds of Python to write. Written in the server's process, twenty wards pressing
"Kiểm tra" at once would queue on its one interpreter lock behind every page it serves; written here, in workers
forked once with the portal's other workers (`filling_pool`), they run beside it, one per core. The workers are
contained like reading workers (read/contain.py): one that crashes or fails is a bug of ctstat (InternalError).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from ctstat.model.catalogue import Catalogue
from ctstat.model.layout import form_layout
from ctstat.write.form import FormHeader, write_form

if TYPE_CHECKING:
    from ctstat.read.contain import Pool

#: where to write, the form's header, its values (cell key -> number or text), its cover's fields, its date
Fill = tuple[str, FormHeader, Mapping[str, Any], Mapping[str, Any], datetime | None]


def filling_pool(catalogue: Catalogue, jobs: int) -> Pool[Fill]:
    """Workers that write filled forms and outlive one call (`write_filled(..., pool=...)`); everything a form
    needs is imported and built here, before any worker is forked."""
    from ctstat.read.contain import Pool
    from ctstat.write.inert import workbook  # noqa: F401

    form_layout(catalogue)
    return Pool(partial(_fill, catalogue=catalogue), jobs)


def write_filled(fills: Sequence[Fill], catalogue: Catalogue, pool: Pool[Fill] | None = None) -> list[int]:
    """`write_form` for each fill, in `pool`'s workers when given, else here: each file's size in bytes."""
    from ctstat.read.contain import contained_map

    if pool is None:
        return [_fill(f, catalogue) for f in fills]
    return list(contained_map(partial(_fill, catalogue=catalogue), fills, _not_written, pool=pool))


def _fill(fill: Fill, catalogue: Catalogue) -> int:
    path, header, values, cover, created = fill
    return write_form(path, catalogue, header, values, cover, created).stat().st_size


def _not_written(fill: Fill, code: str, detail: str) -> int:
    from ctstat.model.errors import InternalError

    raise InternalError(str(fill[0]), f"the form could not be written ({code}: {detail})")
