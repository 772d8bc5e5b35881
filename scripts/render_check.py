"""Render what ctstat writes the way its users print it, and check the printed pages (`make render`).

Builds a district workbook (Quận Hoàng Mai, 14 wards), a province workbook (Lai Châu, 38 communes), a city
workbook (Hà Nội, 30 districts: `--city`, slower) and a marked-up copy of a faulty form; converts each to PDF with
LibreOffice (`soffice`, Debian libreoffice-calc-nogui) and to PNG pages with `pdftoppm` (poppler-utils) for a
person to look at; and checks, from `pdftotext`:
- every sheet's title is printed, and each sheet begins with its title: the page after a signed sheet's
  signature block (which comes once, after its last row) starts the next sheet;
- the signature block ("Người lập biểu" with "Thủ trưởng đơn vị") is printed once per signed sheet, both on one page;
- the page count stays within a bound;
- no words are printed over each other (a wrapped label in a row too short for it, text run into a neighbour);
- every word is printed whole, inside the page's margins: none cut at a page's edge, no clipped fragment of a
  title centred across columns another page holds (a lone "S" at the top of a continuation page);
- Vietnamese letters are printed as the precomposed letters they are (the words extract whole): the pages are
  printed with Liberation Serif standing in for Times New Roman (Debian fonts-liberation2: the same metrics and
  every Vietnamese letter); a font without them (URW Nimbus Roman) makes LibreOffice compose each such letter
  from parts, and the check refuses to run with it;
- the marked-up copy's first page lists the issues and names the unit and period;
- a partial district (three wards of fourteen, --allow-partial) prints its banner naming the missing wards, every
  line of it legible (the banner ran over the subtitle and the header of the "Biểu" sheets).
Exit 1 if a check fails. `tests/test_render.py` runs the same checks in `make test` (CI installs LibreOffice).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CTSTAT = [sys.executable, "-m", "ctstat"]


def pages(pdf: Path) -> list[str]:
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return out.split("\f")[:-1] if out.endswith("\f") else out.split("\f")


SERIF = "Liberation Serif"  #: what prints Times New Roman here: its metrics, and every Vietnamese letter
#: the margins of form.print_setup and of the marked-up copy's issue list, in points (0.4 inch: the narrowest)
MARGIN_PT = 0.4 * 72


def font_env(out: Path) -> dict[str, str]:
    """The environment LibreOffice prints in: fontconfig's own configuration, with Liberation Serif first for
    Times New Roman (and Carlito, Calibri's metric twin, for Calibri), whatever else is installed."""
    import os

    conf = out / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n'
        f'  <match><test name="family"><string>Times New Roman</string></test>\n'
        f'    <edit name="family" mode="prepend" binding="strong"><string>{SERIF}</string></edit></match>\n'
        '  <match><test name="family"><string>Calibri</string></test>\n'
        '    <edit name="family" mode="prepend" binding="strong"><string>Carlito</string></edit></match>\n'
        "</fontconfig>\n",
        encoding="utf-8",
    )
    return {**os.environ, "FONTCONFIG_FILE": str(conf)}


def serif_missing(env: dict[str, str]) -> str | None:
    """Why the pages cannot be checked with Liberation Serif (None: they can)."""
    found = subprocess.run(["fc-match", "-f", "%{family}", "Times New Roman"], capture_output=True, text=True, env=env)
    if SERIF not in found.stdout:
        return f"Times New Roman prints as {found.stdout or '?'!r}, not {SERIF}: apt-get install fonts-liberation2"
    return None


def to_pdf(xlsx: Path, out: Path, profile: Path, env: dict[str, str] | None = None) -> Path:
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf", "--outdir",
         str(out), str(xlsx)],
        check=True,
        capture_output=True,
        timeout=300,
        env=env,
    )  # fmt: skip
    pdf = out / f"{xlsx.stem}.pdf"
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(pdf), str(out / xlsx.stem)], check=True)
    return pdf


def words(pdf: Path) -> list[tuple[float, float, list[tuple[float, float, float, float, str]]]]:
    """Each page's width, height and words (xMin, yMin, xMax, yMax, text), from pdftotext -bbox."""
    import html
    import re

    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    size = re.compile(r'width="([\d.]+)" height="([\d.]+)"')
    word = re.compile(r'<word xMin="(-?[\d.]+)" yMin="(-?[\d.]+)" xMax="(-?[\d.]+)" yMax="(-?[\d.]+)">(.*?)</word>')
    result = []
    for page in out.split("<page ")[1:]:
        m = size.search(page)
        w, h = (float(m[1]), float(m[2])) if m else (0.0, 0.0)
        result.append((w, h, [(*map(float, x[:4]), html.unescape(x[4])) for x in word.findall(page)]))
    return result


def cut_or_split(pdf: Path) -> list[str]:
    """Words not printed whole: past a page's margins (cut at the page's edge, or the clipped rest of a text
    another page holds: LibreOffice clips them, pdftotext still reads them), or a Vietnamese letter composed from
    a base letter and a combining mark (the font has no such letter: the word reads, and extracts, in pieces)."""
    import unicodedata

    problems = []
    for n, (width, height, page) in enumerate(words(pdf), 1):
        cut = [
            t for x0, y0, x1, y1, t in page if x0 < MARGIN_PT - 1 or x1 > width - MARGIN_PT + 1 or y0 < 0 or y1 > height
        ]
        if cut:
            problems.append(f"{pdf.name}: page {n}: words cut at the page's edge: {', '.join(map(repr, cut[:6]))}")
        split = [t for *_, t in page if any(unicodedata.combining(c) for c in t)]
        if split:
            problems.append(f"{pdf.name}: page {n}: letters composed from parts: {', '.join(map(repr, split[:6]))}")
    return problems


def overprinted(pdf: Path) -> list[str]:
    """Words printed over each other: a wrapped label in a row too short for it (its lines run into the row
    below, where pdftotext still reads the clipped text), or a text run into its neighbour's cell."""
    problems = []
    for n, (_, _, page) in enumerate(words(pdf), 1):
        ordered = sorted(page, key=lambda w: w[1])
        clashes = []
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                if b[1] >= a[3]:
                    break
                dx, dy = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
                smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
                if dx > 0 and dy > 0 and smaller > 0 and dx * dy / smaller > 0.3:
                    clashes.append(f"{a[4]!r} over {b[4]!r}")
        if clashes:
            more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
            problems.append(f"{pdf.name}: page {n}: words printed over each other: {', '.join(clashes[:3])}{more}")
    return problems


def check_rollup(pdf: Path, sheets: list[str], max_pages: int) -> list[str]:
    """Problems of one printed rollup workbook."""
    text = pages(pdf)
    problems = []
    if len(text) > max_pages:
        problems.append(f"{pdf.name}: {len(text)} pages, more than {max_pages}")
    for title in ["CÁC CHỈ TIÊU THỐNG KÊ", "SỐ LIỆU THEO ĐƠN VỊ", "TÌNH HÌNH NỘP BÁO CÁO", *sheets]:
        first = next((i for i, t in enumerate(text) if title in t), None)
        if first is None:
            problems.append(f"{pdf.name}: the title {title!r} is not printed")
    signers = [i for i, t in enumerate(text) if "Người lập biểu" in t]
    expected = 2 + len(sheets)  # the cover, "Chỉ tiêu" and each Biểu sheet
    if len(signers) != expected:
        problems.append(f"{pdf.name}: 'Người lập biểu' on {len(signers)} pages, expected {expected} (once a sheet)")
    for i in signers:
        if "Thủ trưởng đơn vị" not in text[i]:
            problems.append(f"{pdf.name}: page {i + 1} has 'Người lập biểu' without 'Thủ trưởng đơn vị'")
    titles = ["CÁC CHỈ TIÊU THỐNG KÊ", "SỐ LIỆU THEO ĐƠN VỊ", "TÌNH HÌNH NỘP BÁO CÁO", "BIỂU", *sheets]
    for i in signers[:-1]:  # a signed sheet ends with its signatures: the next page starts the next sheet
        if i + 1 < len(text) and not any(t in text[i + 1] for t in titles):
            problems.append(f"{pdf.name}: page {i + 2} starts a sheet but shows no sheet title")
    if text and "BÁO CÁO TỔNG HỢP" not in text[0]:
        problems.append(f"{pdf.name}: the first page is not the cover")
    return problems


def check_annotated(pdf: Path) -> list[str]:
    text = pages(pdf)
    problems = []
    if "Kết quả kiểm tra tệp" not in text[0]:
        problems.append(f"{pdf.name}: the list of issues is not the first printed page")
    if "Đơn vị, kỳ:" not in text[0]:
        problems.append(f"{pdf.name}: the first page does not say which unit and period")
    return problems


def quiet_history(wards: Path, folder: Path) -> Path:
    """A history of the wards' four earlier H1s, each cell a little below its value now, and one jump planted
    (the first ward's children in special circumstances: 1, 1, 2, 1 before)."""
    import numpy as np
    import pandas as pd

    from ctstat.job.history import COLUMNS, History, Source
    from ctstat.model.catalogue import load_catalogue
    from ctstat.model.period import Period
    from ctstat.pipeline import collect_inputs

    now = collect_inputs([wards], load_catalogue(), Period.parse("2025-H1")).values_of
    first = min(now)
    rows = [
        (unit, "2025-06-30", f"{2021 + k}-H1", cell, (1.0, 1.0, 2.0, 1.0)[k] if (unit, cell) == (first, "HC01/*/*")
         else float(np.floor(v * (0.7 + 0.1 * k))), "render")
        for k in range(4)
        for unit, cells in sorted(now.items())
        for cell, v in cells.dropna().items()
    ]  # fmt: skip
    History(folder).add(pd.DataFrame(rows, columns=COLUMNS), [Source("render", "table", "render")])
    return folder


def check_comparison(pdf: Path) -> list[str]:
    """The comparison sheet: printed, saying what is modelled, its charts on a page of their own, the planted jump
    listed, unsigned (check_rollup counts the signatures: the sheet adds none)."""
    text = pages(pdf)
    first = next((i for i, t in enumerate(text) if "SO SÁNH VỚI CÁC KỲ TRƯỚC" in t), None)
    if first is None:
        return [f"{pdf.name}: the comparison sheet is not printed"]
    problems = []
    if "MÔ HÌNH HÓA" not in text[first]:
        problems.append(f"{pdf.name}: page {first + 1}: the comparison does not say what is modelled")
    if first + 1 >= len(text) or not text[first + 1].lstrip().startswith("2. Xu hướng"):
        problems.append(f"{pdf.name}: the trend charts do not start a page after the comparison's first page")
    if not any("→ 2025-H1" in t and "p < 0,0001" in t for t in text[first:]):
        problems.append(f"{pdf.name}: the planted unusual change is not listed with its history and p")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "ctstat-render")
    parser.add_argument("--city", action="store_true", help="also Hà Nội: 526 wards, 30 districts (about 1 min)")
    args = parser.parse_args()
    for tool in ("soffice", "pdftotext", "pdftoppm"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: apt-get install libreoffice-calc-nogui poppler-utils", file=sys.stderr)
            return 2
    from ctstat.model.catalogue import load_catalogue

    sheets = [s.name for s in load_catalogue().sheets]
    out = args.out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    profile = out / "lo-profile"
    env = font_env(out)
    missing = serif_missing(env)
    if missing:
        print(missing, file=sys.stderr)
        return 2
    run = [("district", ROOT / "samples" / "wards" / "2025-H1-hoang-mai", "2025-H1", 30)]
    run.append(("province", ROOT / "samples" / "wards" / "2025-H2-lai-chau", "2025-H2", 40))
    few = out / "partial-wards"  # three of fourteen wards, --allow-partial: the banner naming the missing ones
    few.mkdir()
    for ward in sorted((ROOT / "samples" / "wards" / "2025-H1-hoang-mai").glob("*.xlsx"))[:3]:
        shutil.copy(ward, few / ward.name)
    run.append(("partial district", few, "2025-H1", 30))
    run.append(("district with history", ROOT / "samples" / "wards" / "2025-H1-hoang-mai", "2025-H1", 40))
    if args.city:
        subprocess.run([*CTSTAT, "synth", "--unit", "01", "--period", "2025-H1", "--out", str(out / "ha-noi"),
                        "--jobs", "0"], check=True, capture_output=True)  # fmt: skip
        run.append(("city", out / "ha-noi", "2025-H1", 60))
    problems: list[str] = []
    for name, wards, period, max_pages in run:
        books = out / name.replace(" ", "-")
        partial = ["--allow-partial"] if name.startswith("partial") else []
        if name.endswith("with history"):
            partial = ["--history", str(quiet_history(wards, out / "history"))]
        subprocess.run(
            [*CTSTAT, "rollup", str(wards), "--period", period, "--out", str(books), "--jobs", "0", *partial],
            check=True,
            capture_output=True,
        )
        # the workbook of the rolled-up unit itself: the shortest unit code (a province's, not its districts')
        top = min(books.glob("*.xlsx"), key=lambda p: (len(p.stem.split("_")[1]), p.name))
        prefix = {"partial district": "partial", "district with history": "history"}.get(name)
        if prefix:  # its pages beside the complete district's, not over them
            top = Path(shutil.copy(top, books / f"{prefix}_{top.name}"))
        pdf = to_pdf(top, out / "pdf", profile, env)
        found = check_rollup(pdf, sheets, max_pages) + overprinted(pdf) + cut_or_split(pdf)
        if name.startswith("partial") and "BÁO CÁO CHƯA ĐẦY ĐỦ" not in pages(pdf)[1]:
            found.append(f"{pdf.name}: the first sheet does not say the rollup is partial")
        if name.endswith("with history"):
            found += check_comparison(pdf)
        problems += found
        print(f"{name}: {top.name}: {len(pages(pdf))} pages, {'ok' if not found else f'{len(found)} problems'}")
    marked = out / "kiem-tra"
    subprocess.run(
        [*CTSTAT, "validate", str(ROOT / "samples" / "faulty" / "04-tro-giup-vuot.xlsx"), "--annotate", str(marked)],
        capture_output=True,
    )
    (copy,) = marked.glob("*.xlsx")
    pdf = to_pdf(copy, out / "pdf", profile, env)
    problems += check_annotated(pdf) + overprinted(pdf) + cut_or_split(pdf)
    print(f"marked-up copy: {copy.name}: {len(pages(pdf))} pages")
    for p in problems:
        print(f"✗ {p}")
    print(f"PNG pages to look at: {out / 'pdf'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
