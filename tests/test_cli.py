from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctstat.cli.commands import app
from ctstat.model.catalogue import Catalogue
from ctstat.pipeline import validate_paths

from .conftest import ROOT, SAMPLES


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
        ("validate",): "Lỗi: Thiếu tham số 'paths'.",
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
    assert run.returncode == 2 and "Error: Missing argument 'paths'." in run.stderr


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
