"""The names of the sheets ctstat writes and reads back, and the marks that tell its workbooks apart: one place, for
the writers, the readers and the catalogue check (a chart may not take a rollup sheet's name)."""

from __future__ import annotations

COVER = "Thông tin chung"
GUIDE = "Hướng dẫn"
FORM_MARK = "Biểu số:"  #: A1 of a ward form's cover
ROLLUP_MARK = "Báo cáo tổng hợp:"  #: A1 of a rollup workbook's cover
#: the first sheet of a marked-up copy (annotate.py) and the start of its A1, by language, before the file's name:
#: a workbook holding them is a copy ctstat wrote, never a submission (workbook.py)
RESULT_SHEET = "Kết quả kiểm tra"
RESULT_TITLE = {"vi": "Kết quả kiểm tra tệp ", "en": "Validation of "}

#: a rollup workbook's sheets besides the form's own
INDICATORS = "Chỉ tiêu"
BY_UNIT = "Theo đơn vị"
COMPLETENESS = "Đầy đủ"
PROVENANCE = "Nguồn dữ liệu"
DATA = "Dữ liệu"  #: hidden: every ward's cells, read back by a city rollup
COMPARISON = "So sánh các kỳ"  #: with a history: the units against their earlier periods (issue 24)
ROLLUP_SHEETS = (COVER, GUIDE, INDICATORS, BY_UNIT, COMPLETENESS, PROVENANCE, DATA, COMPARISON)

#: the rollup workbook's cover labels a city reads back: written by write/rollup_book.py, read by read/rollup_book.py
#: and check/validate.py
UNIT_LABEL = "Đơn vị tổng hợp"
PERIOD_LABEL = "Kỳ báo cáo"
VINTAGE_LABEL = "Danh mục đơn vị hành chính"
TEMPLATE_LABEL = "Phiên bản biểu mẫu"
