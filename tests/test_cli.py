from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ctstat.cli.commands import _json_text, app
from ctstat.job.config import JobConfig
from ctstat.model.catalogue import Catalogue
from ctstat.model.report import Issue
from ctstat.pipeline import validate_paths

from .conftest import ROOT, SAMPLES, MakeForm


def test_every_command_has_help(runner: CliRunner) -> None:
    commands = [c.name or c.callback.__name__ for c in app.registered_commands]  # type: ignore[union-attr]
    assert commands == [
        "validate",
        "template",
        "indicators",
        "schema",
        "synth",
        "rollup",
        "run",
        "status",
        "tokens",
        "serve",
        "export",
        "compare",
    ]
    assert "Ví dụ:" in runner.invoke(app, ["catalogue", "check", "--help"]).output
    for sub in ("add", "show"):
        assert "Ví dụ:" in runner.invoke(app, ["history", sub, "--help"]).output, sub
    for name in commands:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Ví dụ:" in result.output, name  # Vietnamese by default
    assert "Mã thoát" in runner.invoke(app, ["--help"]).output


def test_valid_folder_exits_0(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate", str(SAMPLES / "wards" / "2025-H1-hoang-mai")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "Tổng kết: 14 tệp, 14 hợp lệ, 0 không hợp lệ; 0 lỗi, 0 cảnh báo."


def test_faulty_file_exits_1_with_cell_and_vietnamese_message(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate", str(SAMPLES / "faulty" / "01-so-am.xlsx")])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("✗ ") and "00301 Phường Thanh Trì  2025-H1  (1 lỗi, 0 cảnh báo)" in lines[0]
    assert any("Biểu 1!E11" in line and "-5" in line and "Số âm (-5)." in line for line in lines)


def test_english_messages(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate", "--lang", "en", str(SAMPLES / "faulty" / "01-so-am.xlsx")])
    assert "Negative value (-5)." in result.output
    assert result.output.splitlines()[-1] == "Summary: 1 file, 0 valid, 1 invalid; 1 error, 0 warnings."


def test_lang_from_the_environment(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTSTAT_LANG", "en")
    result = runner.invoke(app, ["validate", str(SAMPLES / "faulty" / "01-so-am.xlsx")])
    assert "Negative value" in result.output


def test_json_equals_the_library_result(runner: CliRunner, catalogue: Catalogue) -> None:
    result = runner.invoke(app, ["validate", "--json", "--period", "2025-H1", str(SAMPLES / "faulty")])
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc == json.loads(
        json.dumps(validate_paths([SAMPLES / "faulty"], catalogue, period="2025-H1").to_dict("vi"), ensure_ascii=False)
    )
    assert set(doc) == {"valid", "catalogue_version", "template_version", "files", "summary"}
    assert set(doc["files"][0]) == {
        "path",
        "path_bytes",
        "sha256",
        "unit",
        "unit_name",
        "period",
        "vintage",
        "valid",
        "issues",
    }
    assert set(doc["files"][0]["issues"][0]) == {"code", "severity", "sheet", "cell", "value", "message"}


def test_usage_errors_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(app, ["validate", str(tmp_path)]).exit_code == 2  # nothing to validate
    assert runner.invoke(app, ["validate", str(tmp_path / "missing.xlsx")]).exit_code == 2
    result = runner.invoke(app, ["validate", "--lang", "fr", str(SAMPLES / "faulty" / "01-so-am.xlsx")])
    assert result.exit_code == 2
    result = runner.invoke(app, ["validate", "--period", "2025-Q1", str(SAMPLES / "faulty" / "01-so-am.xlsx")])
    assert result.exit_code == 2 and "kỳ '2025-Q1' không hợp lệ" in result.output
    args = ["validate", "--lang", "en", "--period", "2025-Q1", str(SAMPLES / "faulty" / "01-so-am.xlsx")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "'2025-Q1' is not valid" in result.output
    result = runner.invoke(app, ["template", "--unit", "008", "--period", "2025-H1", "--out", str(tmp_path / "x.xlsx")])
    assert result.exit_code == 2
    assert "008 là quận/huyện (Quận Hoàng Mai)" in result.output
    assert "Traceback" not in result.output


def test_template_and_synth_commands(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "f.xlsx"
    result = runner.invoke(app, ["template", "--unit", "00301", "--period", "2025-H1", "--out", str(out)])
    assert result.exit_code == 0 and out.exists()
    result = runner.invoke(app, ["synth", "--unit", "008", "--period", "2025-H1", "--out", str(tmp_path / "hm")])
    assert result.exit_code == 0
    assert result.output.strip() == f"Đã ghi 14 biểu mẫu vào {tmp_path / 'hm'}"
    again = ["synth", "--unit", "008", "--period", "2025-H1", "--out", str(tmp_path / "hm"), "--lang", "en"]
    assert runner.invoke(app, again).output.strip() == f"14 forms written to {tmp_path / 'hm'}"
    assert runner.invoke(app, ["validate", str(tmp_path / "hm"), "--jobs", "2"]).exit_code == 0


def test_indicators_lists_provenance(runner: CliRunner) -> None:
    doc = json.loads(runner.invoke(app, ["indicators", "--json"]).output)
    by_id = {i["id"]: i for i in doc["indicators"]}
    assert by_id["participation.online-safety"]["provenance"] == "circular"
    assert by_id["culture.commune-play-area"]["denominator"] == "_units"
    text = runner.invoke(app, ["indicators"]).output
    assert "Mô hình hóa" in text and "II/0101" in text


def test_annotate_option(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(SAMPLES / "faulty" / "01-so-am.xlsx"), "--annotate", str(tmp_path)])
    assert result.exit_code == 1
    assert [p.name for p in tmp_path.iterdir()] == ["01-so-am.xlsx.kiem-tra.xlsx"]


def test_python_dash_m_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "ctstat", "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "validate" in proc.stdout


def test_commands_that_talk_to_people_take_lang(runner: CliRunner) -> None:
    for name in ("validate", "template", "indicators", "schema", "synth", "rollup", "run", "status", "export"):
        assert "--lang" in runner.invoke(app, [name, "--help"]).output, name
    assert "--lang" in runner.invoke(app, ["catalogue", "check", "--help"]).output


def test_every_option_has_its_help_in_vietnamese() -> None:
    from ctstat.cli.commands import OPTION_HELP_VI, _commands, command

    vi = [p for c in _commands(command("vi")) for p in c.params if getattr(p, "help", None)]
    en = [p for c in _commands(command("en")) for p in c.params if getattr(p, "help", None)]
    assert len(vi) == len(en) > 60
    untranslated = sorted({p.help for p in vi if p.help not in OPTION_HELP_VI.values()})
    assert untranslated == []  # an option added without its Vietnamese text is caught here
    assert {p.help for p in en} <= set(OPTION_HELP_VI)
    out = subprocess.run([sys.executable, "-m", "ctstat", "rollup", "--help"], capture_output=True, text=True).stdout
    assert "Vẫn tổng hợp khi còn xã thiếu" in out and "Roll up even if" not in out


def test_help_is_english_with_lang_en() -> None:
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "ctstat"]
    out = subprocess.run([*cmd, "validate", "--help", "--lang", "en"], capture_output=True, text=True).stdout
    assert "Check ward submissions cell by cell" in out and "Example:" in out
    out = subprocess.run([*cmd, "--help"], capture_output=True, text=True, env={"CTSTAT_LANG": "en", "PATH": ""}).stdout
    assert "Exit codes" in out
    assert "Mã thoát" in subprocess.run([*cmd, "--help"], capture_output=True, text=True).stdout


def _ctstat(*args: str, lang: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CTSTAT_LANG"} | ({"CTSTAT_LANG": lang} if lang else {})
    return subprocess.run(
        [sys.executable, "-m", "ctstat", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )


def test_the_command_line_s_own_words_are_vietnamese_by_default() -> None:
    """click's and typer's strings (help headings, the help option, usage errors) follow the line's language."""
    helped = _ctstat("validate", "-h")
    assert helped.returncode == 0
    for text in ("Cách dùng: ", "ctstat validate [TÙY CHỌN]", "Tham số:", "Tùy chọn:", "[bắt buộc]", "Hiện trợ giúp"):
        assert text in helped.stdout, text
    assert "Show this message" not in helped.stdout and "Options:" not in helped.stdout
    english = _ctstat("validate", "-h", lang="en")
    assert "Show this message and exit." in english.stdout and "Options:" in english.stdout
    cases = {
        ("validate",): "Lỗi: Thiếu tham số 'TỆP_HOẶC_THƯ_MỤC...'.",
        ("validate", "--nope", "x"): "Lỗi: Không có tùy chọn --nope",
        ("validate", "no-such-file.xlsx"): "đường dẫn 'no-such-file.xlsx' không tồn tại.",
        ("validate", "samples/wards", "--jobs", "x"): "Giá trị không hợp lệ cho '--jobs' / '-j': phải là số nguyên.",
        ("rollup", "samples/wards"): "Lỗi: Thiếu tùy chọn '--period'.",
        ("no-such-command",): "Lỗi: Không có lệnh 'no-such-command'.",
    }
    for args, said in cases.items():
        run = _ctstat(*args)
        assert run.returncode == 2 and said in run.stderr, (args, run.stderr)
        assert "-h' để được trợ giúp." in run.stderr and "Traceback" not in run.stderr
    run = _ctstat("validate", "--lang", "en")
    assert run.returncode == 2 and "Error: Missing argument 'FILE_OR_FOLDER...'." in run.stderr


#: the vendored click's and typer's exception classes a person can meet, and the argument that holds the message
_RAISED = {
    "UsageError": 0,
    "BadParameter": 0,
    "BadArgumentUsage": 0,
    "BadOptionUsage": 1,
    "NoSuchOption": None,  # the message is made from the option's name
    "MissingParameter": None,  # made from the parameter
    "FileError": None,  # made from the file's name and the system's words
    "fail": 0,  # ctx.fail(message)
}
#: what a placeholder of a message stands for, by its expression (default: 'x', quoted where repr'd)
_SAMPLES = {"msg": "an argument.", "self.nargs": "2", "label": "dir", "annotation.__name__": "int", "exc.strerror": "x"}
#: messages that are not literals, and why each is covered
_DYNAMIC = {
    "UsageError(message, self)": "Context.fail: its callers' messages are enumerated",
    "BadParameter(get_error_msg(exc), ctx=ctx, param=param)": "pydantic's: said from the error's type",
    "UsageError(get_error_msg(exc))": "pydantic's, for a prompt (ctstat prompts for nothing)",
    "FileError(self.name, hint=e.strerror)": "sampled below",
    "_click.ClickException('Too many CLI parameter callback function parameters')": "a programming error at start-up",
    "_click.ClickException(f'Invalid autocompletion callback parameters: {show_params}')": "a programming error",
}


def _click_messages() -> list[tuple[str, str, str]]:
    """Every message click and typer can raise at a person: (where, exception class, a sample message), from the
    vendored source (typer ships its own click), its placeholders filled with samples."""
    import ast

    import typer

    def sample(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            out = ""
            for part in node.values:
                if isinstance(part, ast.Constant):
                    out += str(part.value)
                else:
                    assert isinstance(part, ast.FormattedValue)
                    text = _SAMPLES.get(ast.unparse(part.value), "x")
                    out += repr(text) if part.conversion == ord("r") else text
            return out
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_" and node.args:
            return sample(node.args[0])  # gettext
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
            inner = sample(node.func.value)  # _("No such command {name!r}.").format(name=...)
            return None if inner is None else inner.format(**{k.arg: "x" for k in node.keywords if k.arg})
        return None

    found, unknown = [], []
    root = Path(typer.__file__).parent
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == "message" for t in node.targets
            ):  # a message rewritten on its way out ("Did you mean ...?")
                text = sample(node.value)
                if text is not None and text.startswith("x. "):
                    found.append((f"{path.name}:{node.lineno}", "UsageError", "No such command 'x'" + text[1:]))
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name not in _RAISED and name != "ClickException":
                continue
            where = f"{path.relative_to(root)}:{node.lineno}"
            at = _RAISED.get(name)
            arg = node.args[at] if at is not None and len(node.args) > at else None
            text = sample(arg) if arg is not None else None
            if text is not None:
                labels = ("file", "dir", "path") if "{label}" in ast.unparse(arg) else (None,)
                for label in labels:
                    shown = text if label is None else text.replace("dir ", f"{label} ", 1)
                    found.append((where, "fail" if name == "fail" else name, shown))
            elif name in ("NoSuchOption", "MissingParameter"):
                found.append((where, name, ""))
            elif ast.unparse(node) not in _DYNAMIC:
                unknown.append(f"{where}: {ast.unparse(node)}")
    assert unknown == []  # a message this test cannot sample: add it to _SAMPLES, or to _DYNAMIC saying why
    assert len(found) > 15
    return found


def test_every_click_and_typer_message_is_said_in_vietnamese() -> None:
    """The class, not the cases: every message the vendored click and typer can raise at a person (found in their
    source, so a new one in an upgrade fails here) is put into Vietnamese, wrapped as the exception shows it;
    none keeps an English word of its template."""
    import re

    from typer._click import exceptions as ce

    from ctstat.cli.clitext import message

    english = re.compile(r"[A-Za-z]{3,}")
    leaks = []
    for where, kind, text in _click_messages():
        if kind == "NoSuchOption":
            shown = [ce.NoSuchOption("--nope"), ce.NoSuchOption("--lnag", possibilities=["--lang"])]
        elif kind == "MissingParameter":
            shown = [ce.MissingParameter(param_hint="'--x'", param_type=t) for t in ("argument", "option")]
        elif kind in ("BadParameter",):
            shown = [ce.BadParameter(text, param_hint="'--x'"), ce.BadParameter(text)]
        elif kind == "BadOptionUsage":
            shown = [ce.BadOptionUsage("--x", text)]
        else:
            shown = [getattr(ce, kind, ce.UsageError)(text)]
        for exc in shown:
            said = message(exc)
            words = set(english.findall(exc.format_message())) - {"nope", "lnag", "lang"}  # the samples' names
            left = sorted(w for w in words if re.search(rf"\b{w}\b", said))
            if left or said.startswith("Dòng lệnh không đúng"):
                leaks.append(f"{where}: {exc.format_message()!r} -> {said!r}")
    file_error = ce.FileError("x.csv", hint="No such file or directory")
    assert message(file_error) == "Không mở được tệp 'x.csv': không tồn tại."
    assert leaks == []


def test_a_value_pydantic_refuses_is_said_in_vietnamese() -> None:
    """typer converts values with pydantic: its English (which varies with its version) never reaches a person;
    every parameter of every command, given a value of the wrong kind, says so in Vietnamese."""
    for args, said in {
        ("validate", "samples/wards", "--jobs", "x"): "Giá trị không hợp lệ cho '--jobs' / '-j': phải là số nguyên.",
        ("synth", "--unit", "008", "--period", "2025-H1", "--out", "x", "--seed", "1.5"): "phải là số nguyên.",
        ("serve", "--port", "80x"): "Giá trị không hợp lệ cho '--port': phải là số nguyên.",
    }.items():
        run = _ctstat(*args)
        assert run.returncode == 2 and said in run.stderr and "Input should" not in run.stderr, (args, run.stderr)


def test_usage_errors_of_real_lines_are_vietnamese() -> None:
    """The leaks the issue names, and the help: a mistyped command with its suggestion, a file where a folder
    is wanted, an option given a value it does not take, a group without its command (its help, once)."""
    for args, said in {
        ("valdate",): "Lỗi: Không có lệnh 'valdate'. Có phải ý bạn là 'validate'?",
        ("catalogue", "chek"): "Lỗi: Không có lệnh 'chek'. Có phải ý bạn là 'check'?",
        ("validate", "--annotate", "README.md", "samples/faulty"): "'README.md' là tệp, không phải thư mục.",
        ("template", "--unit", "00301", "--period", "2025-H1", "--out", "samples"): "'samples' là thư mục",
        ("validate", "--json=1", "samples/faulty"): "Lỗi: Tùy chọn '--json' không nhận giá trị.",
        ("validate", "samples/faulty", "--period"): "Lỗi: Tùy chọn '--period' cần một giá trị.",
    }.items():
        run = _ctstat(*args)
        assert run.returncode == 2 and said in run.stderr, (args, run.stderr)
        assert not re.search(r"\b(No such|Did you mean|is a file|is a directory|does not)\b", run.stderr), run.stderr
    group = _ctstat("catalogue")
    assert group.stderr.count("Cách dùng:") == 1 and "Lỗi:" not in group.stderr


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_help_names_what_each_option_takes(lang: str) -> None:
    """The help and the usage line say what a value is (TỆP_HOẶC_THƯ_MỤC..., --period KỲ), never typer's
    Python types (<list[Path]>, <str>) or a parameter's name in braces ({paths})."""
    from ctstat.cli.commands import _commands, command

    cmd = command(lang)
    for sub in _commands(cmd):
        for param in sub.params:
            if not getattr(param, "is_flag", False):
                assert param.metavar, (sub.name, param.name)
    for args in (["validate"], ["rollup"], ["template"], ["schema"], ["tokens"], ["export"], ["catalogue", "check"]):
        out = _ctstat(*args, "-h", lang=lang).stdout
        assert not re.search(r"<[a-zA-Z\[\]]+>|\{\w+\}", out), (args, out)
    out = _ctstat("validate", "-h", lang=lang).stdout
    assert ("TỆP_HOẶC_THƯ_MỤC..." if lang == "vi" else "FILE_OR_FOLDER...") in out
    assert ("--period KỲ" if lang == "vi" else "--period PERIOD") in out


def test_lang_before_the_command() -> None:
    """--lang (like CTSTAT_LANG) is accepted before the command too: the command's output and its errors."""
    run = _ctstat("--lang", "en", "validate", "samples/faulty/01-so-am.xlsx")
    assert run.returncode == 1 and "Negative value (-5)." in run.stdout, run.stdout + run.stderr
    run = _ctstat("--lang", "en", "validate", "x")
    assert run.returncode == 2 and "Error: Invalid value for 'FILE_OR_FOLDER...'" in run.stderr, run.stderr
    run = _ctstat("--lang", "vi", "validate", "samples/faulty/01-so-am.xlsx", lang="en")
    assert "Số âm (-5)." in run.stdout
    run = _ctstat("--lang", "en", "validate", "--lang", "vi", "samples/faulty/01-so-am.xlsx")
    assert "Số âm (-5)." in run.stdout  # the command's own --lang wins


def test_every_usage_error_has_its_vietnamese() -> None:
    """A usage error a person reads is in the command's language: each one raised in the package says it in
    Vietnamese too (`message_vi`)."""
    import ast

    missing = []
    for path in sorted((ROOT / "src" / "ctstat").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("UsageError", "CtstatError"):
                if not any(k.arg == "message_vi" for k in node.keywords) and len(node.args) < 3:
                    missing.append(f"{path.name}:{node.lineno}")
    assert missing == []


def test_numbers_are_written_the_reader_s_way(make_form: MakeForm, catalogue: Catalogue) -> None:
    """Vietnamese writes 1.670 and 1.234,5, English 1,670 and 1234.5: every message and the value shown beside it
    use the reader's (a rule's numbers, a typed total, a fraction), in the CLI's table and in --json."""
    from ctstat.model.keys import TOTAL, cell_key

    path = make_form(
        changes={
            cell_key("XH03", TOTAL, "sex:nam"): 1670,  # breaks supported <= abused: a rule's message with {lhs}
            cell_key("VP01", TOTAL, TOTAL): 1234.5,
        }
    )
    report = validate_paths([path], catalogue)
    issues = {i.code: i for i in report.issues}
    rule, fraction = issues["supported-exceeds-abused"], issues["not-integer"]
    assert "(1.670)" in rule.message("vi") and "(1,670)" in rule.message("en")
    assert (rule.shown_value("vi"), rule.shown_value("en")) == ("1.670", "1,670")
    assert fraction.message("vi").startswith("Số 1.234,5 ") and fraction.message("en").startswith("1234.5 ")
    doc = report.to_dict("en")["files"][0]["issues"]
    assert {i["code"]: i["value"] for i in doc}["supported-exceeds-abused"] == "1,670"
    run = _ctstat("--lang", "en", "validate", str(path))
    assert "1,670" in run.stdout and "1.670" not in run.stdout, run.stdout
    assert Issue.from_record(rule.to_record()) == rule  # the ledger keeps both writings


def test_the_chase_list_speaks_the_reader_s_language(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> None:
    """With --lang en, every problem of the chase list is English (a missing, a duplicated and an invalid ward;
    from `rollup` and from the job's `status`), and --json gives both (`problem`, `problem_en`)."""
    from ctstat.cli.render import make_consoles, render_status
    from ctstat.job.run import job_status, run_job

    wards = tmp_path / "wards"
    wards.mkdir()
    for name in ("00301-thanh-tri.xlsx", "00304-vinh-hung.xlsx"):
        shutil.copy(SAMPLES / "wards" / "2025-H1-hoang-mai" / name, wards / name)
    shutil.copy(SAMPLES / "faulty" / "01-so-am.xlsx", wards / "01-so-am.xlsx")  # 00301 again, invalid
    shutil.copy(SAMPLES / "faulty" / "02-so-dang-chu.xlsx", cfg.inbox / "02.xlsx")  # 00301, invalid, in the job
    vietnamese = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.I)
    run = _ctstat("--lang", "en", "rollup", str(wards), "--period", "2025-H1", "--out", str(tmp_path / "out"))
    chase = run.stdout[run.stdout.index("Chase list") :]
    assert "files for one unit: keep one" in chase and "Not submitted" in chase, run.stdout
    problems = [line.split("│")[5] for line in chase.splitlines() if line.count("│") == 6]
    assert problems and not [p for p in problems if vietnamese.search(p)], problems
    run_job(cfg, catalogue)
    doc = job_status(cfg, catalogue)
    invalid = next(s for s in doc["chase_list"] if s["status"] == "invalid")
    assert invalid["problem"].startswith("1 lỗi; đầu tiên: Biểu 1!") and invalid["problem_en"].startswith(
        "1 error; first: Biểu 1!"
    ), invalid
    assert not vietnamese.search(invalid["problem_en"].replace("Biểu", ""))
    out, _ = make_consoles(no_color=True)
    with out.capture() as seen:
        render_status(doc, out, "en")
    assert "1 error; first:" in seen.get() and "Not submitted" in seen.get() and "Chưa nộp" not in seen.get()


def test_template_says_which_commune_and_warns_of_a_reused_code(tmp_path: Path) -> None:
    """The 2025 reform reused commune codes: `template` says which commune and which unit list the form is for,
    and warns when the code names a different commune in the other list; none when it is the same commune."""
    from ctstat.model.units import load_units, name_key

    run = _ctstat("template", "--unit", "00301", "--period", "2025-H2", "--out", str(tmp_path / "a.xlsx"))
    assert run.returncode == 0 and run.stdout.strip() == str(tmp_path / "a.xlsx")
    assert "Biểu mẫu của 00301 Phường Vĩnh Hưng" in run.stderr and "2025-07-01" in run.stderr, run.stderr
    assert "Lưu ý: trong danh mục 2025-06-30" in run.stderr and "Phường Thanh Trì, Quận Hoàng Mai" in run.stderr
    run = _ctstat("template", "--unit", "00301", "--period", "2025-H1", "--out", str(tmp_path / "b.xlsx"), lang="en")
    assert "The form of 00301 Phường Thanh Trì, Quận Hoàng Mai" in run.stderr and "2025-06-30" in run.stderr
    assert "code 00301 is Phường Vĩnh Hưng" in run.stderr and "a different commune" in run.stderr, run.stderr
    old, new = load_units("2025-06-30"), load_units("2025-07-01")
    kept = next(u for u in new.all("commune") if (o := old.get(u.code)) and name_key(o.name) == name_key(u.name))
    run = _ctstat("template", "--unit", kept.code, "--period", "2025-H2", "--out", str(tmp_path / "c.xlsx"))
    assert run.returncode == 0 and f"Biểu mẫu của {kept.code} {kept.name}" in run.stderr
    assert "Lưu ý" not in run.stderr, run.stderr


def test_a_refusal_anywhere_in_a_command_is_exit_2_in_the_line_language(runner: CliRunner, tmp_path: Path) -> None:
    """One place maps a refusal (cli/entry.py): also one raised where no command caught it before (synth checked
    --lang only after writing, so a bad --lang escaped as a crash), in the language of the whole line."""
    result = runner.invoke(
        app, ["synth", "--unit", "00301", "--period", "2025-H1", "--out", str(tmp_path), "--lang", "fr"]
    )
    assert result.exit_code == 2 and "--lang phải là vi hoặc en" in result.output
    result = runner.invoke(app, ["--lang", "en", "schema", "XX99"])  # the line's --lang, before the command
    assert result.exit_code == 2 and "no element 'XX99' in the catalogue" in result.output
    result = runner.invoke(app, ["keys", "new", "--out", str(tmp_path), "--name", "../x", "--lang", "en"])
    assert result.exit_code == 2 and "--name: not a file name" in result.output


def test_a_command_returns_its_result_and_only_the_entry_turns_it_into_an_exit_code() -> None:
    """No command decides an exit code of its own: `except CtstatError` and `typer.Exit(<not 0>)` appear only in
    cli/entry.py. (The portal is not a command: it answers pages, its failures mapped in web/context.py, and a
    part of a page that cannot be had, such as the history on a result page, is left out there.)"""
    import ast

    for path in (ROOT / "src" / "ctstat").rglob("*.py"):
        if path.name == "entry.py" or path.parent.name == "web":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                assert "CtstatError" not in ast.unparse(node.type), f"{path}:{node.lineno}"
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "typer.Exit" and node.args:
                assert ast.unparse(node.args[0]) == "0", f"{path}:{node.lineno}"


def test_a_bug_in_a_command_is_exit_3_through_the_app_too(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug is exit 3 with one line, never 1, also where the app runs without the console script (a test, an
    embedding program): the top group maps it (cli/entry.py), as `main` does."""

    def boom(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr("ctstat.pipeline.validate_files", boom)
    result = runner.invoke(app, ["validate", str(SAMPLES / "wards" / "2025-H1-hoang-mai")])
    assert result.exit_code == 3 and "internal error (lỗi nội bộ)" in result.output and "RuntimeError" in result.output
    monkeypatch.setattr("ctstat.pipeline.validate_files", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "full")))
    result = runner.invoke(app, ["validate", str(SAMPLES / "wards" / "2025-H1-hoang-mai")])
    assert result.exit_code == 3 and "cannot go on (lỗi môi trường)" in result.output


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(_JSON)
def test_json_output_is_the_same_document_one_item_per_line(doc: object) -> None:
    text = _json_text(doc)
    assert json.loads(text) == doc
    if isinstance(doc, dict) and doc:  # a person reads it: one key per line, a list's items one per line
        assert text.startswith("{\n  ") and text.endswith("\n}")


def _lines_of_the_app() -> list[list[str]]:
    """Every command line that names a command: each command and group, and each command of a group."""
    from ctstat.cli import commands

    lines = [[commands._command_name(c) or ""] for c in app.registered_commands]
    for group in app.registered_groups:
        assert group.typer_instance is not None and group.name
        lines.append([group.name])
        lines += [[group.name, commands._command_name(c) or ""] for c in group.typer_instance.registered_commands]
    return lines


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_command_made_alone_helps_and_refuses_as_in_the_whole_app(
    lang: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`command()` makes only the command the line names (start-up time): its help, and its usage errors, are
    the whole app's, word for word, for every command, in both languages, with options before the command."""
    from ctstat.cli import commands

    def said(argv: list[str], whole: bool) -> tuple[str, str]:
        monkeypatch.setattr(sys, "argv", ["ctstat", *argv])
        if whole:
            monkeypatch.setattr(commands, "_app_for", lambda _argv: app)
        cmd = commands.command()
        monkeypatch.undo()
        assert whole or len(cmd.commands) == 1, argv  # made alone
        try:
            cmd.main(argv, prog_name="ctstat", standalone_mode=False)
        except Exception as exc:  # noqa: BLE001 - click's usage errors, compared below
            print(type(exc).__name__, exc)
        out = capsys.readouterr()
        return out.out, out.err

    lines = _lines_of_the_app()
    assert len(lines) > 20
    for line in lines:
        for argv in ([*line, "--help"], ["--lang", lang, *line, "--help"], [f"--lang={lang}", *line, "--no-such"]):
            assert said(argv, whole=False) == said(argv, whole=True), argv


def test_a_line_naming_no_command_gets_the_whole_app() -> None:
    from ctstat.cli.commands import _app_for

    for argv in ([], ["--help"], ["--version"], ["valdate", "x"], ["--lang", "validate"], ["--debug", "--help"]):
        assert _app_for(argv) is app, argv
    assert _app_for(["--debug", "--lang", "en", "history", "add"]).registered_groups[0].name == "history"
    assert [c.callback.__name__ for c in _app_for(["validate", "x"]).registered_commands] == ["validate"]  # type: ignore[union-attr]
    assert len(app.registered_commands) == 12  # the app itself untouched


def test_a_command_lines_process_collects_cycles_less_often(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a command reads lives to its end: the collector's default thresholds walked it again and again."""
    import gc

    from ctstat.cli.commands import CLI_GC, main

    before = gc.get_threshold()
    monkeypatch.setattr(sys, "argv", ["ctstat", "--version"])
    try:
        with pytest.raises(SystemExit) as ended:
            main()
        during = gc.get_threshold()
    finally:
        gc.set_threshold(*before)
    assert ended.value.code == 0
    assert during == CLI_GC and CLI_GC[0] >= 50 * 700 and CLI_GC[1:] >= (10, 10)


def test_a_place_to_write_under_a_file_is_refused_at_once(runner: CliRunner, tmp_path: Path) -> None:
    """Every command that writes refuses, before it reads anything, a folder or file to write that lies under a
    file (or a folder that is a file): exit 2 and what is wrong, in the line's language, never exit 3 ("a bug")
    after the whole batch was read. A form is written under an .xlsx name only."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    under = blocker / "x"
    wards = str(SAMPLES / "wards" / "2025-H1-hoang-mai")
    job = ["--period", "2025-H1", "--unit", "008", "--inbox", wards]
    lines = {
        ("rollup", wards, "--period", "2025-H1", "--out", str(under)): "--out",
        ("template", "--unit", "00301", "--period", "2025-H1", "--out", str(under / "f.xlsx")): "--out",
        ("validate", wards, "--annotate", str(under)): "--annotate",
        ("synth", "--unit", "008", "--period", "2025-H1", "--out", str(under)): "--out",
        ("keys", "new", "--out", str(under)): "--out",
        ("run", *job, "--out", str(under)): "out",
        ("run", *job, "--out", str(tmp_path / "job"), "--log", str(under / "log.jsonl")): "log",
        ("export", *job, "--out", str(tmp_path / "job"), "--to", str(under / "x.csv")): "--to",
        ("tokens", "--out", str(under / "t.csv")): "--out",
    }
    for args, option in lines.items():
        result = runner.invoke(app, list(args))
        said = f"{option} {args[args.index(option if option.startswith('-') else '--' + option) + 1]}: "
        assert result.exit_code == 2, (args, result.output)
        assert said + f"không ghi vào đó được, {blocker} là một tệp, không phải thư mục" in result.output, result.output
    synth = runner.invoke(app, ["synth", "--unit", "008", "--period", "2025-H1", "--out", "/dev/null", "--lang", "en"])
    assert synth.exit_code == 2 and "--out /dev/null: a file, not a folder" in synth.output, synth.output
    assert not (tmp_path / "job").exists()  # refused before anything was made
    sources = str(SAMPLES / "wards" / "2025-H1-hoang-mai")
    history = runner.invoke(app, ["history", "add", sources, "--history", str(under)])
    said = f"--history {under}: không ghi vào đó được, {blocker} là một tệp"
    assert history.exit_code == 2 and said in history.output, history.output
    folder = tmp_path / "a-folder"
    folder.mkdir()
    log = runner.invoke(app, ["run", *job, "--out", str(tmp_path / "job"), "--log", str(folder)])
    assert log.exit_code == 2 and f"log {folder}: đây là một thư mục, không phải tệp" in log.output, log.output
    (tmp_path / "nowhere").symlink_to(tmp_path / "gone")
    link = runner.invoke(app, ["rollup", wards, "--period", "2025-H1", "--out", str(tmp_path / "nowhere")])
    assert link.exit_code == 2 and "--out " + str(tmp_path / "nowhere") + ": liên kết không dẫn tới đâu" in link.output
    assert not (tmp_path / "job").exists()
    named = runner.invoke(app, ["template", "--unit", "00301", "--period", "2025-H1", "--out", str(tmp_path / "f.csv")])
    assert named.exit_code == 2 and "đặt tên tệp đuôi .xlsx (ví dụ 00301.xlsx)" in named.output, named.output
    assert not (tmp_path / "f.csv").exists()


def test_a_wrong_date_says_what_to_write_in_the_line_s_language(runner: CliRunner, tmp_path: Path) -> None:
    """A rollup's --deadline or --generated-at that is not a date: exit 2 saying how to write it, never Python's
    English reason ("month must be in 1..12") inside the Vietnamese line."""
    wards = str(SAMPLES / "wards" / "2025-H1-hoang-mai")
    base = ["rollup", wards, "--period", "2025-H1", "--out", str(tmp_path / "r")]
    for extra, said in {
        ("--deadline", "2025-13-01"): "--deadline: phải là ngày dạng YYYY-MM-DD, không phải '2025-13-01'",
        ("--deadline", "2025-02-30"): "--deadline: phải là ngày dạng YYYY-MM-DD, không phải '2025-02-30'",
        ("--generated-at", "hôm qua"): "--generated-at: phải là ngày YYYY-MM-DD hoặc thời điểm YYYY-MM-DDTHH:MM:SS, "
        "không phải 'hôm qua'",
    }.items():
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 2 and said in result.output, result.output
        assert "month must" not in result.output and "isoformat" not in result.output and "day is" not in result.output
    english = runner.invoke(app, [*base, "--deadline", "2025-13-01", "--lang", "en"])
    assert "--deadline: expected a date YYYY-MM-DD, not '2025-13-01'" in english.output, english.output
    assert not (tmp_path / "r").exists()


def test_jobs_is_never_negative_nor_more_than_four_a_core(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """--jobs -3 was taken as one process, and --jobs 100000 over a national inbox forked a reading process per
    file: a negative number is refused (exit 2, in the line's language), a large one capped at 4 a core."""
    from ctstat.model.errors import UsageError
    from ctstat.pipeline import workers
    from ctstat.read import contain

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert [workers(j) for j in (0, 1, 3, 8, 9, 100_000)] == [2, 1, 3, 8, 8, 8]
    with pytest.raises(UsageError, match="--jobs: expected a whole number >= 0"):
        workers(-1)
    refused = runner.invoke(app, ["validate", str(SAMPLES / "faulty"), "--jobs", "-3"])
    assert refused.exit_code == 2, refused.output
    assert "--jobs: phải là số nguyên >= 0 (0 = mỗi lõi một tiến trình), không phải -3" in refused.output
    started: list[int] = []
    real = contain._start

    def counted(*args: Any, **kwargs: Any) -> Any:
        started.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(contain, "_start", counted)
    done = runner.invoke(app, ["validate", str(SAMPLES / "wards"), "--jobs", "100000"])
    assert done.exit_code == 0, done.output
    assert len(started) == 8


def test_a_folder_that_holds_no_history_is_refused_where_one_is_read(runner: CliRunner, tmp_path: Path) -> None:
    """A mistyped or empty --history compared nothing and said "0 cells checked" (exit 0: read as "nothing
    unusual"), `history show` said the unit had no data, and `history confirm --value` wrote into a new folder.
    Every command that reads a history now refuses a folder without one (exit 2, naming `history add`), before
    reading any file; `history add` still makes a new one."""
    empty, missing = tmp_path / "empty", tmp_path / "typo"
    empty.mkdir()
    wards = str(SAMPLES / "wards" / "2025-H1-hoang-mai")
    for folder in (empty, missing):
        h = ["--history", str(folder)]
        for args in (
            ["compare", "--period", "2025-H1", *h],
            ["history", "show", "--unit", "00301", *h],
            ["history", "confirm", "--period", "2025-H1", "--unit", "00301", "--cell", "Biểu 1!E11", "--note", "x"]
            + ["--value", "3", *h],
            ["validate", wards, *h],
            ["rollup", wards, "--period", "2025-H1", "--out", str(tmp_path / "r"), *h],
        ):
            result = runner.invoke(app, args)
            if folder == missing and args[0] == "validate":  # its --history must exist: click's usage error
                assert result.exit_code == 2 and "'--history'" in result.output, result.output
                continue
            assert result.exit_code == 2, (args, result.output)
            said = f"chưa có lịch sử ở {folder} (không có manifest.json): hãy nạp các kỳ trước vào bằng ctstat history"
            assert said + " add NGUỒN... --history" in result.output, result.output
    assert not missing.exists() and list(empty.iterdir()) == [] and not (tmp_path / "r").exists()


def test_a_run_whose_history_holds_none_says_so_and_still_runs(runner: CliRunner, tmp_path: Path) -> None:
    """A job's `history` set but never loaded (or mistyped): the run does its work and warns that nothing was
    compared (`history-missing`, in its JSON and first on screen), instead of "0 cells checked"."""
    wards = str(SAMPLES / "wards" / "2025-H1-hoang-mai")
    job = ["run", "--period", "2025-H1", "--unit", "008", "--inbox", wards, "--out", str(tmp_path / "job")]
    job += ["--history", str(tmp_path / "typo"), "--log", str(tmp_path / "job.log")]
    result = runner.invoke(app, [*job, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [w["code"] for w in doc["warnings"]] == ["history-missing"] and "unusual_changes" not in doc
    assert len(doc["validated"]) == 14 and not (tmp_path / "typo").exists()
    shown = runner.invoke(app, job)
    assert shown.exit_code == 0 and shown.output.startswith(f"⚠ Chưa có lịch sử ở {tmp_path / 'typo'}"), shown.output
    assert "đã kiểm tra 0 ô" not in shown.output
    # the workbook the district signs has no comparison sheet saying "0 cells checked" either; the log says why
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(doc["outputs"][0]["path"])
    assert "Dữ liệu" in book.sheet_names and "So sánh các kỳ" not in book.sheet_names
    events = [json.loads(line) for line in (tmp_path / "job.log").read_text(encoding="utf-8").splitlines()]
    assert [e["event"] for e in events].count("history-missing") == 2  # each run


def test_counts_and_values_are_written_as_their_reader_writes_them() -> None:
    """The rollup's '9527/10035 xã hợp lệ' and history counts: thousands grouped as the line's language groups them
    (a dot in Vietnamese, a comma in English; the history's English line used the dot); a corrected cell's old and
    new values as typed ('-5 -> 5', never '-5.0 -> 5' nor '1.5e+06')."""
    from ctstat.cli.render import value_text
    from ctstat.model.vocab import completeness_line, count_text

    assert [count_text(n) for n in (0, 526, 9527, 10035, 2333787)] == ["0", "526", "9.527", "10.035", "2.333.787"]
    assert [count_text(n, "en") for n in (526, 10035)] == ["526", "10,035"]
    assert [value_text(v) for v in (-5.0, 5, 1500000.0, 2.5, "1.234 trẻ", None, 1e-08)] == [
        "-5",
        "5",
        "1500000",
        "2.5",
        "1.234 trẻ",
        "(trống)",
        "0.00000001",
    ]
    assert value_text(None, "en") == "(blank)"
    assert completeness_line({"expected": 10035, "valid": 9527}) == "phải nộp 10.035, hợp lệ 9.527"
