"""Regenerate tests/data/: the sample form 00301 opened and saved by LibreOffice Calc as .xlsx, .ods and .xls.

Run after scripts/make_samples.py whenever the samples change (needs `soffice`: Debian libreoffice-calc-nogui).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "samples" / "wards" / "2025-H1-hoang-mai" / "00301-thanh-tri.xlsx"
FILTERS = {"xlsx": "xlsx:Calc MS Excel 2007 XML", "ods": "ods", "xls": "xls:MS Excel 97"}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "00301-saved-by-libreoffice.xlsx"
        shutil.copyfile(SOURCE, src)
        for ext, filt in FILTERS.items():
            out = Path(tmp) / ext
            subprocess.run(
                [
                    "soffice",
                    f"-env:UserInstallation=file://{tmp}/profile",
                    "--headless",
                    "--convert-to",
                    filt,
                    "--outdir",
                    str(out),
                    str(src),
                ],
                check=True,
                capture_output=True,
            )
            shutil.copyfile(out / f"{src.stem}.{ext}", ROOT / "tests" / "data" / f"{src.stem}.{ext}")
    print("tests/data written")


if __name__ == "__main__":
    main()
