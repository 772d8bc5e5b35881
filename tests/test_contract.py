"""The exit-code contract (README, "Commands"), pinned at the command line for every command.

0 no errors (warnings allowed); 1 at least one error in the data, or a rollup refused; 2 usage error, invalid
catalogue, nothing to validate; 3 a bug of ctstat or a fault of the machine (one line on stderr, no traceback);
130 an interrupt (Ctrl-C). The cases run `ctstat.cli.commands.main` (the console script itself) in this process,
with a fault put where the command would meet it; the interrupt is also sent, as SIGINT, to a real `ctstat` process.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ctstat.cli import commands as cli
from ctstat.model.errors import EnvironmentFault
from ctstat.model.keys import cell_key

from .conftest import SAMPLES, MakeForm

HM = SAMPLES / "wards" / "2025-H1-hoang-mai"
FAULTY = SAMPLES / "faulty"


class Line:
    """`ctstat ARGS` run through the console script's `main`; returns (exit code, stdout, stderr)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.mp, self.capsys = monkeypatch, capsys

    def __call__(self, *args: str | Path, fault: BaseException | None = None, at: str = "") -> tuple[int, str, str]:
        with self.mp.context() as mp:
            if fault is not None:
                module, _, name = (at or "ctstat.model.catalogue.load_catalogue").rpartition(".")

                def boom(*a: Any, **k: Any) -> Any:
                    raise fault

                mp.setattr(f"{module}.{name}", boom)
            mp.setattr(sys, "argv", ["ctstat", *map(str, args)])
            self.capsys.readouterr()
            with pytest.raises(SystemExit) as stop:
                cli.main()
        out = self.capsys.readouterr()
        code = stop.value.code
        return (code if isinstance(code, int) else 0 if code is None else 1), out.out, out.err


@pytest.fixture
def ctstat(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Line:
    return Line(monkeypatch, capsys)


@pytest.fixture
def warned(make_form: MakeForm, tmp_path: Path) -> Path:
    """A form of 00301 with a warning and no error: no villages (VH01 = 0, so VH02 = 0 too)."""
    return make_form(changes={cell_key("VH01", "*", "*"): 0, cell_key("VH02", "*", "*"): 0}, name="00301-canh-bao.xlsx")


def job(tmp_path: Path, wards: list[Path]) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    for w in wards:
        shutil.copy(w, inbox / w.name)
    cfg = tmp_path / "ctstat.toml"
    body = f'period = "2025-H1"\nunit = "008"\ninbox = "{inbox}"\nout = "{tmp_path / "out"}"\n'
    cfg.write_text(body, encoding="utf-8")
    return cfg


BUG = RuntimeError("a bug")
DISK_FULL = OSError(errno.ENOSPC, "No space left on device")
CTRL_C = KeyboardInterrupt()


def assert_bug(result: tuple[int, str, str]) -> None:
    code, _, err = result
    assert code == 3, result
    assert "internal error" in err and "RuntimeError: a bug" in err and "Traceback" not in err, err


def assert_machine(result: tuple[int, str, str]) -> None:
    code, _, err = result
    assert code == 3, result
    assert "cannot go on" in err and "Traceback" not in err, err


def assert_interrupted(result: tuple[int, str, str]) -> None:
    code, out, err = result
    assert code == 130, result
    assert err.strip().endswith("ctstat: interrupted") and "Traceback" not in out + err, err


# --- validate ------------------------------------------------------------------------------------------------------


def test_validate(ctstat: Line, warned: Path, tmp_path: Path) -> None:
    assert ctstat("validate", HM)[0] == 0
    code, out, _ = ctstat("validate", warned, "--lang", "en")
    assert code == 0 and "(0 errors, 1 warning)" in out  # warnings only: still 0
    assert ctstat("validate", HM / "00304-vinh-hung.xlsx", warned)[0] == 0
    assert ctstat("validate", FAULTY / "01-so-am.xlsx")[0] == 1
    assert ctstat("validate", FAULTY / "01-so-am.xlsx", warned)[0] == 1
    assert ctstat("validate", FAULTY / "09-tep-hong.xlsx")[0] == 1  # an unreadable file is data, not a crash
    assert ctstat("validate", tmp_path / "empty-folder-that-is-not-there")[0] == 2
    (tmp_path / "empty").mkdir()
    assert ctstat("validate", tmp_path / "empty")[0] == 2  # nothing to validate
    assert ctstat("validate", HM, "--period", "2025-Q3")[0] == 2
    assert ctstat("validate", HM, "--no-such-option")[0] == 2
    assert ctstat("validate")[0] == 2
    assert_bug(ctstat("validate", HM, fault=BUG))
    assert_bug(ctstat("validate", HM, fault=BUG, at="ctstat.pipeline.validate_files"))
    assert_machine(ctstat("validate", HM, fault=DISK_FULL, at="ctstat.pipeline.validate_files"))
    assert_interrupted(ctstat("validate", HM, fault=CTRL_C, at="ctstat.pipeline.validate_files"))


def test_each_kind_of_fault_gets_its_line(ctstat: Line) -> None:
    at = "ctstat.pipeline.validate_files"
    code, _, err = ctstat("validate", HM, fault=OSError(errno.EACCES, "Permission denied", "/srv/x"), at=at)
    assert code == 3 and "cannot go on" in err and "cannot write or read /srv/x: Permission denied" in err, err
    code, _, err = ctstat("validate", HM, fault=EnvironmentFault("the disk is full"), at=at)
    assert code == 3 and "cannot go on" in err and "the disk is full" in err, err
    code, _, err = ctstat("validate", HM, fault=OSError(errno.EINVAL, "Invalid argument"), at=at)  # not the machine's
    assert code == 3 and "internal error" in err and "OSError" in err, err
    code, _, err = ctstat("validate", "--bogus", HM)
    assert code == 2 and "Lỗi" in err, err  # a usage error in the line's language
    code, _, err = ctstat("validate", "--bogus", HM, "--lang", "en")
    assert code == 2 and "Error" in err and "Lỗi" not in err, err


def test_validate_annotate_on_a_full_disk_is_a_machine_fault(ctstat: Line, tmp_path: Path) -> None:
    args = ("validate", FAULTY / "01-so-am.xlsx", "--annotate", tmp_path / "copies")
    assert_machine(ctstat(*args, fault=DISK_FULL, at="ctstat.write.annotate.annotate_report"))
    assert ctstat(*args)[0] == 1  # the copy written, the data still faulty


# --- rollup --------------------------------------------------------------------------------------------------------


def test_rollup(ctstat: Line, warned: Path, tmp_path: Path) -> None:
    assert ctstat("rollup", HM, "--period", "2025-H1", "--out", tmp_path / "a")[0] == 0
    # a ward with a warning only is valid: the rollup is complete
    mixed = tmp_path / "mixed"
    shutil.copytree(HM, mixed)
    (mixed / "00301-thanh-tri.xlsx").unlink()
    shutil.copy(warned, mixed / warned.name)
    assert ctstat("rollup", mixed, "--period", "2025-H1", "--out", tmp_path / "b")[0] == 0
    # a ward missing: refused (1); allowed partial: 0
    (mixed / warned.name).unlink()
    assert ctstat("rollup", mixed, "--period", "2025-H1", "--out", tmp_path / "c")[0] == 1
    assert ctstat("rollup", mixed, "--period", "2025-H1", "--out", tmp_path / "d", "--allow-partial")[0] == 0
    # a faulty ward: refused
    shutil.copy(FAULTY / "01-so-am.xlsx", mixed / "01-so-am.xlsx")
    assert ctstat("rollup", mixed, "--period", "2025-H1", "--out", tmp_path / "e")[0] == 1
    assert ctstat("rollup", HM, "--out", tmp_path / "f")[0] == 2  # --period is required
    assert ctstat("rollup", HM, "--period", "2025", "--out", tmp_path / "g")[0] == 2  # 2025 needs --units
    assert_bug(ctstat("rollup", HM, "--period", "2025-H1", "--out", tmp_path / "h", fault=BUG))
    at = "ctstat.pipeline.rollup_paths"
    assert_machine(ctstat("rollup", HM, "--period", "2025-H1", "--out", tmp_path / "i", fault=DISK_FULL, at=at))
    assert_interrupted(ctstat("rollup", HM, "--period", "2025-H1", "--out", tmp_path / "j", fault=CTRL_C, at=at))


# --- the commands that write or describe forms ---------------------------------------------------------------------


def test_template(ctstat: Line, tmp_path: Path) -> None:
    assert ctstat("template", "--unit", "00301", "--period", "2025-H1", "--out", tmp_path / "a.xlsx")[0] == 0
    assert ctstat("template", "--unit", "99999", "--period", "2025-H1", "--out", tmp_path / "b.xlsx")[0] == 2
    assert ctstat("template", "--unit", "00301", "--out", tmp_path / "c.xlsx")[0] == 2
    args = ("template", "--unit", "00301", "--period", "2025-H1", "--out", tmp_path / "d.xlsx")
    assert_bug(ctstat(*args, fault=BUG))
    assert_machine(ctstat(*args, fault=DISK_FULL, at="ctstat.pipeline.make_template"))
    assert_interrupted(ctstat(*args, fault=CTRL_C, at="ctstat.pipeline.make_template"))


def test_synth(ctstat: Line, tmp_path: Path) -> None:
    assert ctstat("synth", "--unit", "00301", "--period", "2025-H1", "--out", tmp_path / "a")[0] == 0
    assert ctstat("synth", "--unit", "nowhere", "--period", "2025-H1", "--out", tmp_path / "b")[0] == 2
    args = ("synth", "--unit", "00301", "--period", "2025-H1", "--out", tmp_path / "c")
    assert_bug(ctstat(*args, fault=BUG))
    assert_interrupted(ctstat(*args, fault=CTRL_C, at="ctstat.pipeline.synth_forms"))


def test_indicators_and_schema(ctstat: Line, tmp_path: Path) -> None:
    assert ctstat("indicators")[0] == 0
    assert ctstat("indicators", "--lang", "fr")[0] == 2
    assert ctstat("indicators", "--catalogue", tmp_path / "no-catalogue")[0] == 2
    assert_bug(ctstat("indicators", fault=BUG))
    assert_interrupted(ctstat("indicators", fault=CTRL_C))
    assert ctstat("schema", "XH01")[0] == 0
    assert ctstat("schema", "ZZ99")[0] == 2
    assert_bug(ctstat("schema", "XH01", fault=BUG))
    assert_interrupted(ctstat("schema", "XH01", fault=CTRL_C))


def test_catalogue_check(ctstat: Line, tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[1] / "indicators"
    assert ctstat("catalogue", "check", shipped)[0] == 0
    # the form changes but its version does not: it cannot be published (1)
    changed = tmp_path / "changed"
    shutil.copytree(shipped, changed)
    culture = changed / "culture.yaml"
    sexes = "size: [6, 28]}\n    columns:\n      - {dimension: sex, breakdown: exclusive"  # VH01 by sex
    culture.write_text(culture.read_text(encoding="utf-8").replace("size: [6, 28]", sexes), encoding="utf-8")
    code, out, _ = ctstat("catalogue", "check", changed, "--against", shipped, "--lang", "en")
    assert code == 1, out
    # an invalid catalogue (a typo): 2
    typo = tmp_path / "typo"
    shutil.copytree(shipped, typo)
    abuse = typo / "abuse.yaml"
    abuse.write_text(abuse.read_text(encoding="utf-8").replace("type: count", "type: cuont", 1), encoding="utf-8")
    assert ctstat("catalogue", "check", typo)[0] == 2
    assert_bug(ctstat("catalogue", "check", shipped, fault=BUG))
    assert_interrupted(ctstat("catalogue", "check", shipped, fault=CTRL_C))


# --- the scheduled job and the portal ------------------------------------------------------------------------------


def test_run_status_export(ctstat: Line, warned: Path, tmp_path: Path) -> None:
    wards = [w for w in sorted(HM.glob("*.xlsx")) if not w.name.startswith("00301")]
    cfg = job(tmp_path, wards)
    assert ctstat("run", "--config", cfg)[0] == 0  # 00301 missing before the deadline: waiting, not a problem
    assert ctstat("status", "--config", cfg)[0] == 1  # the period is not complete
    assert ctstat("export", "--config", cfg, "--to", tmp_path / "a.csv")[0] == 0
    shutil.copy(warned, cfg.parent / "inbox" / warned.name)  # 00301 arrives, with a warning only
    assert ctstat("run", "--config", cfg)[0] == 0
    assert ctstat("status", "--config", cfg)[0] == 0
    shutil.copy(FAULTY / "02-so-dang-chu.xlsx", cfg.parent / "inbox")  # 00304 sends a faulty file later
    assert ctstat("run", "--config", cfg)[0] == 1
    for command in ("run", "status", "export"):
        extra = ("--to", str(tmp_path / "b.csv")) if command == "export" else ()
        assert ctstat(command, "--config", tmp_path / "missing.toml", *extra)[0] == 2, command
        assert ctstat(command, "--config", cfg, "--bogus", *extra)[0] == 2, command
        assert_bug(ctstat(command, "--config", cfg, *extra, fault=BUG))
        assert_interrupted(ctstat(command, "--config", cfg, *extra, fault=CTRL_C))
    assert ctstat("export", "--config", cfg, "--to", tmp_path / "x.txt")[0] == 2
    assert_machine(ctstat("run", "--config", cfg, fault=DISK_FULL, at="ctstat.job.run.run_job"))


def test_tokens_and_serve(ctstat: Line, tmp_path: Path) -> None:
    cfg = job(tmp_path, [])
    assert ctstat("tokens", "--config", cfg, "--out", tmp_path / "t.csv")[0] == 0
    assert ctstat("tokens", "--config", cfg, "--out", tmp_path / "t.csv")[0] == 2  # never writes over a list
    assert ctstat("tokens", "--config", tmp_path / "missing.toml", "--out", tmp_path / "u.csv")[0] == 2
    at = "ctstat.web.tokens.issue_tokens"
    assert_bug(ctstat("tokens", "--config", cfg, "--out", tmp_path / "v.csv", fault=BUG, at=at))
    assert_interrupted(ctstat("tokens", "--config", cfg, "--out", tmp_path / "w.csv", fault=CTRL_C, at=at))
    assert ctstat("serve", "--config", tmp_path / "missing.toml")[0] == 2
    assert ctstat("serve", "--config", cfg, "--port", "not-a-port")[0] == 2
    served: list[tuple[Any, ...]] = []
    with pytest.MonkeyPatch.context() as mp:  # a server that stops by itself: 0
        mp.setattr("ctstat.web.app.serve", lambda *a: served.append(a))
        assert ctstat("serve", "--config", cfg)[0] == 0 and len(served) == 1
    assert_bug(ctstat("serve", "--config", cfg, fault=BUG, at="ctstat.web.app.serve"))
    assert_interrupted(ctstat("serve", "--config", cfg, fault=CTRL_C, at="ctstat.web.app.serve"))


def test_an_interrupt_outside_a_command_and_an_abort_are_130(ctstat: Line) -> None:
    assert_interrupted(ctstat("indicators", fault=CTRL_C, at="ctstat.cli.commands.command"))  # while the line is parsed
    assert_interrupted(ctstat("indicators", fault=EOFError()))  # click's Abort (end of input at a prompt)


def test_debug_shows_the_traceback_wherever_it_is_on_the_line(ctstat: Line, monkeypatch: pytest.MonkeyPatch) -> None:
    for line in (("validate", HM, "--debug"), ("--debug", "indicators")):
        monkeypatch.setenv("CTSTAT_DEBUG", "")  # restored afterwards: main sets it for the rest of its process
        code, _, err = ctstat(*line, fault=BUG)
        assert code == 3 and "Traceback" in err and "RuntimeError: a bug" in err, (line, err)
        assert os.environ["CTSTAT_DEBUG"] == "1"
    monkeypatch.setenv("CTSTAT_DEBUG", "")
    code, _, err = ctstat("indicators", fault=BUG)
    assert code == 3 and "Traceback" not in err and "--debug" in err


def test_version_and_help(ctstat: Line) -> None:
    assert ctstat("--version")[0] == 0
    assert ctstat("--help")[0] == 0
    assert ctstat("no-such-command")[0] == 2
    assert ctstat()[0] == 2


# --- a real process and a real Ctrl-C ------------------------------------------------------------------------------


def _interrupt(args: list[str], ready: Callable[[], bool]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ctstat", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        for _ in range(600):  # at most a minute for the command to be under way
            if ready() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the command ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_ctrl_c_on_a_real_process_exits_130(tmp_path: Path) -> None:
    out = tmp_path / "ha-noi"
    done = _interrupt(
        ["synth", "--unit", "01", "--period", "2025-H1", "--out", str(out)],
        lambda: out.is_dir() and any(out.iterdir()),
    )
    assert done.returncode == 130, done
    assert done.stderr.strip().endswith("ctstat: interrupted") and "Traceback" not in done.stderr
