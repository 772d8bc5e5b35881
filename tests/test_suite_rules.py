"""Rules the test suite keeps about itself."""

from __future__ import annotations

import re

import pytest

from .conftest import ROOT, in_ci


@pytest.mark.parametrize(
    ("value", "ci"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        (" on ", True),
        ("", False),
        ("0", False),
        ("false", False),
        ("False", False),
        ("no", False),
        ("off", False),
        (None, False),
    ],
)
def test_one_rule_for_what_ci_means(monkeypatch: pytest.MonkeyPatch, value: str | None, ci: bool) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert in_ci() is ci


def test_no_test_reads_ci_but_through_the_helper() -> None:
    readers = {
        p.name
        for p in (ROOT / "tests").glob("*.py")
        if p.name != "conftest.py"
        and re.search(r"""environ(\.get)?\s*[\[(]\s*["']CI["']|getenv\(\s*["']CI["']""", p.read_text(encoding="utf-8"))
    }
    assert readers == set()
