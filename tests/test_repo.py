"""Cheap guards against drift between the code, the catalogue, the samples and the documentation."""

from __future__ import annotations

import json
import re

from ctstat.cli.commands import app
from ctstat.model.catalogue import Catalogue
from ctstat.model.messages import MESSAGES

from .conftest import ROOT, SAMPLES

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_built_in_issue_code_is_documented() -> None:
    documented = set(re.findall(r"`([a-z]+(?:-[a-z]+)+)`", README))
    assert set(MESSAGES) <= documented, sorted(set(MESSAGES) - documented)


def test_every_command_is_in_the_readme() -> None:
    for command in app.registered_commands:
        name = command.name or command.callback.__name__  # type: ignore[union-attr]
        assert f"ctstat {name}" in README, name


def test_readme_set_up_is_the_ci_command() -> None:
    assert "make demo" in README and "make test" in README
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_samples_readme_lists_every_fault() -> None:
    faults = json.loads((SAMPLES / "faulty" / "faults.json").read_text(encoding="utf-8"))
    text = (SAMPLES / "README.md").read_text(encoding="utf-8")
    for fault in faults:
        assert f"`{fault['file']}`" in text
        assert (SAMPLES / "faulty" / fault["file"]).exists()


def test_rule_codes_do_not_clash_and_messages_name_both_sides(catalogue: Catalogue) -> None:
    for rule in catalogue.rules:
        assert rule.code not in MESSAGES
        assert "{lhs}" in rule.message_vi and "{lhs}" in rule.message_en, rule.code


def test_every_element_is_used_by_an_indicator_or_a_rule(catalogue: Catalogue) -> None:
    used = {i.element for i in catalogue.indicators} | {i.numerator for i in catalogue.indicators}
    used |= {i.denominator for i in catalogue.indicators}
    used |= {r.lhs.element for r in catalogue.rules} | {getattr(r.rhs, "element", None) for r in catalogue.rules}
    assert set(catalogue.elements) <= used, sorted(set(catalogue.elements) - used)


def test_no_code_of_the_shipped_catalogue_is_in_the_package(catalogue: Catalogue) -> None:
    """The catalogue is the only truth: no element code, dimension key or category key of indicators/ is written
    into src/ctstat (a new or renamed indicator is a YAML change)."""
    import re

    words = {*catalogue.elements, *catalogue.dimensions}
    words |= {c.key for d in catalogue.dimensions.values() for c in d.categories if re.search(r"[a-z]-[a-z]", c.key)}
    pattern = re.compile(r"(?<![\w-])(" + "|".join(sorted(map(re.escape, words))) + r")(?![\w-])")
    found = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted((ROOT / "src" / "ctstat").rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


def test_tests_change_user_only_through_the_one_probed_helper() -> None:
    """A test run as another user (or as root bound by file modes) goes through conftest.bound_by_file_modes, which
    checks that way can import this checkout wherever it lives, and skips saying why when none can."""
    ways = re.compile(r"setpriv|--reuid|setuid\(|seteuid\(|preexec_fn|\bsudo\b|\brunuser\b|\bsu -")
    for path in sorted((ROOT / "tests").glob("*.py")):
        if path.name not in {"conftest.py", "test_repo.py"}:
            assert not ways.search(path.read_text(encoding="utf-8")), path.name
