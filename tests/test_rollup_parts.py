"""The plain-array ways a rollup takes its rows and columns out of frames (plan._Rows, write.rollup_book.aligned)
give what pandas' reindex gives: the same numbers, NaN for what is missing, in the order asked."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ctstat.plan.plan import _Rows
from ctstat.write.rollup_book import aligned


def _frame(rows: list[str], cols: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    values = rng.integers(0, 50, size=(len(rows), len(cols))).astype(float)
    if values.size:
        values[rng.random(values.shape) < 0.2] = np.nan
    return pd.DataFrame(values, index=pd.Index(rows), columns=pd.Index(cols))


ASKED = [
    ["002", "001"],  # reordered
    ["001", "009", "003"],  # one the frame has not
    ["009"],  # none it has
    [],
    ["001", "002", "003"],  # exactly its rows
]


@pytest.mark.parametrize("codes", ASKED)
@pytest.mark.parametrize("rows", [["001", "002", "003"], []])
def test_rows_as_reindex(rows: list[str], codes: list[str]) -> None:
    frame = _frame(rows, ["a", "b", "c"])
    table = _Rows(frame)
    np.testing.assert_array_equal(table.take(codes), frame.reindex(codes).to_numpy(dtype=float))
    have = [c for c in codes if c in rows]
    pd.testing.assert_frame_equal(table.frame(codes), frame.reindex(have))


@pytest.mark.parametrize("codes", [*ASKED, None])
@pytest.mark.parametrize("keys", [["c", "a"], ["a", "z", "b"], ["a", "b", "c"], None])
def test_aligned_as_reindex(codes: list[str] | None, keys: list[str] | None) -> None:
    frame = _frame(["001", "002", "003"], ["a", "b", "c"])
    want = frame.reindex(index=codes, columns=keys).to_numpy(dtype=float)
    np.testing.assert_array_equal(aligned(frame, codes, keys), want)


def test_a_data_rows_digest_line_reads_every_kind_of_cell_as_text_does() -> None:
    """The digest's line takes floats by a shortcut: the same text `_text` gives, for every kind of cell."""
    from ctstat.read.rollup_book import _line, _text

    row: list[object] = [1.0, math.nan, -0.0, 1e300, 0.1, 2 / 3, None, "", True, False, 3, "a\tb\nc", "x", None, ""]
    want = [_text(v) for v in row]
    while want and want[-1] == "":
        want.pop()
    assert _line(row) == ("\t".join(want) + "\n").encode()
    assert _line(row).startswith(b"1.0\t\t-0.0\t1e+300\t0.1\t0.6666666666666666\t\t\tTRUE\tFALSE\t3.0\ta b c\tx\n")


def test_each_total_sums_the_range_its_parts_span() -> None:
    """The form's total formulas, worked out once for the layout: the range from its first part's row and column to
    its last's, on the sheet that holds them."""
    from ctstat.model.catalogue import load_catalogue
    from ctstat.model.keys import a1
    from ctstat.model.layout import form_layout

    layout = form_layout(load_catalogue())
    assert layout.sum_formulas and set(layout.sum_formulas) == set(layout.formulas)
    for key, parts in layout.formulas.items():
        spots = [layout.positions[p] for p in parts]
        assert {s for s, _, _ in spots} == {layout.positions[key][0]}
        rows, cols = [r for _, r, _ in spots], [c for _, _, c in spots]
        assert layout.sum_formulas[key] == f"=SUM({a1(min(rows), min(cols))}:{a1(max(rows), max(cols))})"


def test_the_wards_frame_is_the_one_aligned_row_by_row() -> None:
    """`plan._ward_frame` takes the forms' rows from the array they were read into (`WardCells.put_row`), or from
    one array when they share the form's index, and aligns them one by one otherwise (a district workbook's rows,
    a row in another order, a cell missing): the same frame."""
    import numpy as np
    import pandas as pd

    from ctstat.plan.plan import _ward_frame
    from ctstat.plan.spec import WardCells

    keys = ["a", "b", "c"]
    shared = pd.Index(keys)
    rng = np.random.default_rng(1)
    read = rng.random((5, 3))
    read[1, 1] = np.nan
    same = [pd.Series(read[i], index=shared) for i in range(4)]
    other = pd.Series([7.0, 8.0, 9.0], index=["c", "a", "b"])  # another order
    short = pd.Series([1.0, 2.0], index=["a", "c"])  # a cell missing
    for values in (same, [*same, other], [*same, short], [other], []):
        codes = [f"{i:05d}" for i in range(len(values))]
        expected = pd.DataFrame(values, index=pd.Index(codes), columns=keys)
        got = _ward_frame(WardCells(dict(zip(codes, values, strict=True))), codes, keys)
        pd.testing.assert_frame_equal(got, expected)
        # the same cells as rows of the array they were read into (in another order), some alongside a Series
        cells = WardCells()
        for i, code in enumerate(codes):
            if values[i] is same[min(i, 3)]:
                cells.put_row(code, read[::-1], shared, 4 - i)
            else:
                cells[code] = values[i]
        pd.testing.assert_frame_equal(_ward_frame(cells, codes, keys), expected)
        for code, v in zip(codes, values, strict=True):  # each ward's cells, a Series made when asked for
            pd.testing.assert_series_equal(cells[code], v)
    cells = WardCells()
    cells.put_row("00000", read, shared, 0)
    other_keys = pd.Index(["c", "b", "a"])  # rows over the cell keys in another order: aligned, not taken as they are
    cells.put_row("00001", read, other_keys, 1)
    expected = pd.DataFrame([read[0], read[1][::-1]], index=pd.Index(["00000", "00001"]), columns=keys)
    pd.testing.assert_frame_equal(_ward_frame(cells, ["00000", "00001"], keys), expected)
