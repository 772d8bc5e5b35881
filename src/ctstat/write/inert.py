"""The one writing layer every output goes through: nothing taken from an input becomes live in an output.

Workbooks are created here with xlsxwriter's guessing turned off (a string that looks like a formula, a number
or a URL stays a string), numbers that are not finite become Excel errors rather than a crash; text from a file
is made printable (control characters shown as escapes) and cut to Excel's cell limit; CSV fields that a
spreadsheet would run as a formula are neutralised (the OWASP rule); terminal text never carries an escape.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from ctstat.model.text import printable

EXCEL_CELL_LIMIT = 32_767
_CSV_ACTIVE = ("=", "+", "-", "@", "\t", "\r")


def workbook(path: str | Path, **options: Any) -> Any:
    """An xlsxwriter Workbook that writes strings as strings, whatever they look like. It is assembled in memory
    and written to `path` in one go when closed: a full disk is then one OSError, with nothing of xlsxwriter's
    left open to fail again when collected."""
    import io

    wb = _buffered()(
        io.BytesIO(),
        {
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "nan_inf_to_errors": True,
            "in_memory": True,  # the parts are assembled in memory, not in temporary files (a form is small)
            **options,
        },
    )
    wb.target = Path(path)
    return wb


def properties(wb: Any, title: str, created: Any) -> None:
    """The document properties of every workbook ctstat writes: its title, ctstat as the author and its version,
    and a creation time taken from the data (the same inputs give the same bytes)."""
    from ctstat import __version__

    wb.set_properties({"title": title, "author": "ctstat", "comments": f"ctstat {__version__}", "created": created})


#: deflate level of a workbook's parts: ISA-L's level 1 (its levels are 0-3), about zlib's level 1 in size. zlib's
#: level 6 makes a rollup's parts ~12% smaller at twice zlib's level 1 time, and six times ISA-L's.
ZIP_LEVEL = 1


@cache
def _buffered() -> Any:
    import zipfile

    import xlsxwriter
    import xlsxwriter.workbook
    from isal import isal_zlib

    class FastZip(zipfile.ZipFile):
        """The zip file xlsxwriter packs a workbook into, each part deflated at `ZIP_LEVEL` by ISA-L (three times
        zlib's speed at level 1, and a little smaller: the workbook's parts in a third of the time)."""

        def writestr(self, name: Any, data: Any, compress_type: Any = None, compresslevel: Any = None) -> None:
            super().writestr(name, data, compress_type, ZIP_LEVEL if compresslevel is None else compresslevel)

        def _open_to_write(self, zinfo: zipfile.ZipInfo, force_zip64: bool = False) -> Any:
            part = super()._open_to_write(zinfo, force_zip64)  # type: ignore[misc]
            if zinfo.compress_type == zipfile.ZIP_DEFLATED and getattr(part, "_compressor", None) is not None:
                part._compressor = isal_zlib.compressobj(ZIP_LEVEL, isal_zlib.DEFLATED, -15)
            return part

    # xlsxwriter opens its zip file by this module-level name (Workbook._store_workbook)
    xlsxwriter.workbook.ZipFile = FastZip
    _quick_escapes()

    class BufferedWorkbook(xlsxwriter.Workbook):  # type: ignore[misc]
        target: Path
        fileclosed: bool

        def close(self) -> None:
            if self.fileclosed:  # closed already: xlsxwriter's warning, nothing written again
                super().close()
                return
            super().close()
            self.target.write_bytes(self.filename.getvalue())
            self._release()

        def _release(self) -> None:
            """Let go of what the workbook held once it is written. Its sheets, charts, formats and cells refer
            to one another and to it: a cycle only the cyclic collector frees (some 4,000 objects a rollup
            workbook, a tenth of the time writing it took, collected); parted, they are freed at once."""
            for part in [*self.worksheets_objs, *self.charts]:
                part.__dict__.clear()
            closed = self.fileclosed
            self.__dict__.clear()
            self.fileclosed = closed

        def _get_packager(self) -> Any:
            from ctstat.write.blocks import FastPackager

            return FastPackager()

    return BufferedWorkbook


#: xlsxwriter's own escaping of a tag's attribute and of a tag's text (`_quick_escapes` replaces them)
XML_ESCAPES: dict[str, Any] = {}


def _quick_escapes() -> None:
    """xlsxwriter's escaping of XML attributes and text (and of control characters in text), the same result
    sooner: it tries a regular expression on every value and catches the TypeError a number raises (most
    attributes and a chart's cached values are numbers: a raised exception costs more than the search), where
    these look at the value's type first. A tenth of a rollup workbook's sheet-level and chart XML
    (tests/test_blocks.py holds them to xlsxwriter's)."""
    import re

    from xlsxwriter.xmlwriter import XMLwriter

    if XML_ESCAPES:
        return
    XML_ESCAPES.update(
        attributes=XMLwriter._escape_attributes,
        data=XMLwriter._escape_data,
        control=XMLwriter._escape_control_characters,
    )
    special = re.compile('["&<>\n]')
    attributes, data, control = XML_ESCAPES["attributes"], XML_ESCAPES["data"], XML_ESCAPES["control"]

    def escape_attributes(self: Any, value: Any) -> Any:
        return attributes(self, value) if isinstance(value, str) and special.search(value) else value

    def escape_data(self: Any, value: Any) -> Any:
        return data(self, value) if isinstance(value, str) and special.search(value) else value

    def escape_control_characters(value: Any) -> Any:
        return control(value) if isinstance(value, str) else value

    XMLwriter._escape_attributes = escape_attributes
    XMLwriter._escape_data = escape_data
    XMLwriter._escape_control_characters = staticmethod(escape_control_characters)


def text(value: Any) -> str:
    """Any value as text a workbook cell can hold: printable, cut to Excel's limit."""
    t = "TRUE" if value is True else "FALSE" if value is False else str(value)
    t = printable(t)
    return t if len(t) <= EXCEL_CELL_LIMIT else t[: EXCEL_CELL_LIMIT - 1] + "…"


def csv_field(value: Any) -> Any:
    """A CSV field a spreadsheet will not run: text starting with = + - @ tab or CR gets a leading apostrophe.

    Numbers are left alone (a negative number is data, not a formula)."""
    if isinstance(value, str):
        active = value.startswith(_CSV_ACTIVE)
        value = printable(value)
        return "'" + value if active else value
    return value
