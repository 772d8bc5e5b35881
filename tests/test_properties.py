"""Whatever a ward types or however a file is damaged, validation gives a report, never an exception."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctstat.check.validate import validate_submissions
from ctstat.model.catalogue import Catalogue
from ctstat.model.layout import form_layout
from ctstat.model.period import Period
from ctstat.model.units import load_units
from ctstat.read.workbook import read_bytes, read_submission
from ctstat.write.synth import synth_values, write_ward

from .conftest import SAMPLES

cell_values = st.one_of(
    st.none(),
    st.integers(-(10**6), 10**9),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=12),
    st.sampled_from(["1.158", "12,5", "Có", "không", "", " ", "=1+1", "N/A"]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_cell_values_always_give_a_report(data: st.DataObject, catalogue: Catalogue, tmp_path: Path) -> None:
    h = load_units("2025-06-30")
    unit = h.get("00301")
    assert unit is not None
    values = synth_values(catalogue, unit, Period.parse("2025-H1"))
    keys = form_layout(catalogue).inputs()
    for key in data.draw(st.lists(st.sampled_from(keys), max_size=12, unique=True)):
        values[key] = data.draw(cell_values)
    path = write_ward(tmp_path, catalogue, h, unit, Period.parse("2025-H1"), values=values, name="x.xlsx")
    report = validate_submissions([read_submission(path, catalogue)], catalogue)
    assert len(report.files) == 1
    for issue in report.issues:
        assert issue.code and issue.message("vi") and issue.message("en")


GOOD = (SAMPLES / "wards" / "2025-H1-hoang-mai" / "00301-thanh-tri.xlsx").read_bytes()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), flips=st.integers(1, 40), cut=st.booleans())
def test_random_byte_corruption_always_gives_a_report(seed: int, flips: int, cut: bool, catalogue: Catalogue) -> None:
    rng = random.Random(seed)
    data = bytearray(GOOD)
    for _ in range(flips):
        data[rng.randrange(len(data))] = rng.randrange(256)
    if cut:
        data = data[: rng.randrange(len(data))]
    sub = read_bytes("x.xlsx", bytes(data), catalogue)
    report = validate_submissions([sub], catalogue)
    assert len(report.files) == 1
