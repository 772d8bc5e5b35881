"""Issue codes of ctstat itself, with their default severity and message templates (Vietnamese, English).

Codes are part of the CLI contract: scripts branch on them. Catalogue rules add their own codes.
"""

from __future__ import annotations

from typing import Any

from ctstat.model.report import Issue, Said, Severity
from ctstat.model.text import MAX_SHOWN as MAX_SHOWN
from ctstat.model.text import printable as printable

E, W = Severity.ERROR, Severity.WARNING

#: code -> (severity, Vietnamese template, English template)
MESSAGES: dict[str, tuple[Severity, str, str]] = {
    # the catalogue
    "catalogue-invalid": (E, "{detail}", "{detail}"),
    # the review chain (job/review.py)
    "approved-locked": (
        E,
        "Không nhận tệp này: {detail}",
        "This file is refused: {detail}",
    ),
    # the file
    "unreadable-workbook": (
        E,
        "Không mở được tệp ({detail}). Tệp bị hỏng hoặc không phải tệp Excel: mở lại bằng Excel hoặc "
        "LibreOffice, lưu thành .xlsx rồi gửi lại.",
        "The file cannot be opened ({detail}). It is damaged or not an Excel file: open it in Excel or "
        "LibreOffice, save it as .xlsx and send it again.",
    ),
    "not-a-workbook": (E, "{detail}", "{detail}"),  # what the file is instead, and what to do (guard.KINDS)
    "encrypted-workbook": (
        E,
        "Tệp được đặt mật khẩu mở tệp nên không đọc được. Gỡ mật khẩu (Excel: Tệp > Thông tin > Bảo vệ sổ làm "
        "việc > Mã hóa bằng mật khẩu, xóa mật khẩu) rồi gửi lại.",
        "The file is password-protected and cannot be read. Remove the password (Excel: File > Info > Protect "
        "Workbook > Encrypt with Password, clear it) and send it again.",
    ),
    "file-too-large": (
        E,
        "Tệp quá lớn ({detail}). Biểu mẫu chuẩn chỉ khoảng 30 KB: hãy nhập số liệu vào biểu mẫu do ctstat tạo.",
        "The file is too large ({detail}). A form is about 30 KB: enter the data in a form made by ctstat.",
    ),
    "not-a-file": (
        E,
        "Đây không phải một tệp bình thường ({detail}). Hãy gửi đúng tệp biểu mẫu .xlsx, .xls hoặc .ods.",
        "This is not an ordinary file ({detail}). Send the form itself as an .xlsx, .xls or .ods file.",
    ),
    "file-unreadable": (
        E,
        "Không đọc được tệp ({detail}). Người quản trị cần cấp quyền đọc tệp, hoặc xã gửi lại tệp.",
        "The file cannot be read ({detail}). The administrator must make it readable, or the ward sends it again.",
    ),
    "damaged-archive": (
        E,
        "Tệp bị hỏng hoặc bị sửa bất thường ({detail}). Mở biểu mẫu bằng Excel hoặc LibreOffice, lưu lại rồi gửi lại.",
        "The file is damaged or was altered in an unusual way ({detail}). Open the form in Excel or LibreOffice, "
        "save it again and send it.",
    ),
    "unpacked-too-large": (
        E,
        "Tệp khi giải nén quá lớn ({detail}); biểu mẫu thật chỉ vài trăm KB. Hãy nhập số liệu vào biểu mẫu gốc, "
        "lưu lại rồi gửi.",
        "The file unpacks to too much data ({detail}); a real form is a few hundred KB. Enter the data in the "
        "original form, save it and send it.",
    ),
    "xml-doctype": (
        E,
        "Tệp chứa khai báo DOCTYPE/ENTITY trong {detail}: không chương trình bảng tính nào tạo ra như vậy, tệp "
        "không được đọc. Mở biểu mẫu gốc bằng Excel hoặc LibreOffice, nhập số liệu, lưu rồi gửi lại.",
        "The file declares a DOCTYPE/ENTITY in {detail}: no spreadsheet program writes that, so it is not read. "
        "Enter the data in the original form in Excel or LibreOffice, save it and send it again.",
    ),
    "data-outside-form": (
        E,
        "Có dữ liệu nằm ngoài vùng của biểu mẫu{detail}. Xóa các ô, dòng, cột thừa ngoài biểu mẫu (hoặc chép số "
        "liệu sang biểu mẫu gốc), lưu rồi gửi lại.",
        "There are data outside the form's area{detail}. Delete the extra cells, rows and columns outside the "
        "form (or copy the data into the original form), save it and send it again.",
    ),
    "reader-crashed": (
        E,
        "Đọc tệp làm chương trình đọc dừng bất thường ({detail}); các tệp khác vẫn được kiểm tra. Tệp bị hỏng "
        "hoặc có cấu trúc bất thường: mở bằng Excel hoặc LibreOffice, lưu thành .xlsx rồi gửi lại.",
        "Reading this file made the reader stop ({detail}); the other files were still checked. The file is "
        "damaged or unusually built: open it in Excel or LibreOffice, save it as .xlsx and send it again.",
    ),
    "reader-timeout": (
        E,
        "Đọc tệp quá {detail} giây nên đã dừng; các tệp khác vẫn được kiểm tra. Mở bằng Excel hoặc LibreOffice, "
        "lưu thành .xlsx rồi gửi lại.",
        "Reading the file took more than {detail} seconds and was stopped; the other files were still checked. "
        "Open it in Excel or LibreOffice, save it as .xlsx and send it again.",
    ),
    "not-a-form": (
        E,
        "Tệp không phải biểu mẫu báo cáo ctstat ({detail}). Hãy nhập số liệu vào biểu mẫu tạo bằng 'ctstat template'.",
        "The file is not a ctstat report form ({detail}). Enter the data in a form made by 'ctstat template'.",
    ),
    "marked-up-copy": (
        E,
        "Đây là bản đánh dấu lỗi ctstat đã tạo cho tệp '{detail}', không phải báo cáo: ctstat không kiểm tra và "
        "không tổng hợp nó. Sửa số liệu trong tệp gốc (hoặc điền một biểu mẫu mới) rồi gửi tệp đó.",
        "This is the marked-up copy ctstat made of the file '{detail}', not a report: ctstat neither checks nor "
        "rolls it up. Correct the original file (or fill in a new form) and send that.",
    ),
    "template-version": (
        E,
        "Biểu mẫu là phiên bản {value}, phiên bản đang dùng là {expected}. Hãy chép số liệu sang biểu mẫu mới.",
        "The form is version {value}; the version in use is {expected}. Copy the data into the new form.",
    ),
    # the cover sheet
    "missing-unit": (
        E,
        "Chưa ghi mã đơn vị báo cáo. Ghi mã xã/phường 5 chữ số theo danh mục hành chính.",
        "The unit code is missing. Enter the 5-digit commune code.",
    ),
    "unknown-unit": (
        E,
        "Mã đơn vị '{value}' không có trong danh mục đơn vị hành chính {vintage}. Kiểm tra lại mã xã/phường.",
        "Unit code '{value}' is not in the administrative-unit list {vintage}. Check the commune code.",
    ),
    "not-a-commune": (
        E,
        "Mã '{value}' là mã {level} ({name}), không phải mã xã/phường. Ghi mã của xã/phường báo cáo.",
        "Code '{value}' is a {level} ({name}), not a commune. Enter the reporting commune's code.",
    ),
    "unit-name-mismatch": (
        W,
        "Tên đơn vị '{value}' không khớp với mã {unit} ({expected}). Kiểm tra lại mã và tên.",
        "Unit name '{value}' does not match code {unit} ({expected}). Check the code and the name.",
    ),
    "bad-period": (
        E,
        "Kỳ báo cáo '{value}' không hợp lệ. Ghi theo dạng 2025 (năm), 2025-H1 hoặc 2025-H2 (6 tháng).",
        "Period '{value}' is not valid. Write 2025 (year), 2025-H1 or 2025-H2 (six months).",
    ),
    "wrong-period": (
        E,
        "Kỳ báo cáo của tệp là {value}, nhưng đợt kiểm tra này là kỳ {expected}. Gửi đúng báo cáo kỳ {expected}.",
        "The file's period is {value}, but this check is for period {expected}. Send the report for {expected}.",
    ),
    "wrong-vintage": (
        E,
        "Biểu ghi danh mục đơn vị hành chính '{value}', nhưng kỳ {period} dùng danh mục {expected}.",
        "The form names unit list '{value}', but period {period} uses list {expected}.",
    ),
    "duplicate-unit": (
        E,
        "Có nhiều tệp cho cùng đơn vị {unit}, kỳ {period}: {detail}. Chỉ giữ lại một tệp.",
        "Several files for unit {unit}, period {period}: {detail}. Keep only one.",
    ),
    # structure
    "missing-sheet": (
        E,
        "Thiếu trang '{sheet}'. Không xóa hay đổi tên trang của biểu mẫu; hãy dùng lại biểu mẫu gốc.",
        "Sheet '{sheet}' is missing. Do not delete or rename the form's sheets; use the original form.",
    ),
    "missing-row": (
        E,
        "Không tìm thấy dòng mã số {value} ({detail}) ở cột Mã số. Không xóa, chèn hay sửa mã số của dòng.",
        "Row code {value} ({detail}) is not in the Mã số column. Do not delete, insert or edit row codes.",
    ),
    "moved-row": (
        W,
        "Dòng mã số {value} nằm ở dòng {detail}, không đúng vị trí trong biểu mẫu. Số liệu vẫn được đọc theo "
        "mã số; lần sau không chèn, xóa dòng.",
        "Row code {value} is at row {detail}, not where the form puts it. Data are read by row code; do not "
        "insert or delete rows.",
    ),
    "unknown-row": (
        W,
        "Mã số '{value}' không thuộc biểu mẫu. Số liệu ở dòng này không được tổng hợp.",
        "Row code '{value}' is not part of the form. This row's data are not rolled up.",
    ),
    "row-of-other-sheet": (
        W,
        "Mã số '{value}' là một dòng của trang '{detail}', không phải của trang này: số liệu ở dòng này không được "
        "đọc. Ghi số liệu vào dòng '{value}' trên trang '{detail}', rồi xóa dòng này.",
        "Row code '{value}' is a row of sheet '{detail}', not of this one: this row's data are not read. Enter the "
        "data at row '{value}' of sheet '{detail}' and delete this row.",
    ),
    "repeated-row": (
        W,
        "Mã số '{value}' đã có ở dòng {detail}: dòng này là bản sao, số liệu ở dòng này không được đọc. Xóa dòng "
        "thừa, ghi số liệu vào dòng {detail}.",
        "Row code '{value}' is already at row {detail}: this row is a copy and its data are not read. Delete the "
        "extra row and enter the data at row {detail}.",
    ),
    "hidden-data": (
        W,
        "Ô có số liệu nằm trong {detail} bị ẩn. Hiện lại dòng/trang và kiểm tra số liệu.",
        "A cell with data is in a hidden {detail}. Unhide it and check the data.",
    ),
    # cells
    "blank-value": (
        E,
        "Ô để trống. Ghi số liệu; nếu không có thì ghi 0 (ô trống không được hiểu là 0).",
        "The cell is blank. Enter a number; enter 0 if there is none (blank is not read as 0).",
    ),
    "text-in-number": (
        E,
        "Ô chứa chữ '{value}' thay vì số{detail}. Xóa và nhập lại bằng số.",
        "The cell holds the text '{value}' instead of a number{detail}. Delete it and type the number.",
    ),
    "not-a-number": (
        E,
        "Giá trị '{value}' không phải một số dùng được (rỗng NaN, vô cực hoặc quá lớn). Xóa và nhập lại số liệu.",
        "'{value}' is not a usable number (NaN, infinite or too large). Delete it and type the number.",
    ),
    "merged-cells": (
        E,
        "Các ô {value} bị gộp (merge) che mất ô nhập số liệu. Bỏ gộp ô (Unmerge) và nhập số vào từng ô.",
        "Cells {value} are merged over data-entry cells. Unmerge them and enter a number in each cell.",
    ),
    "not-integer": (
        E,
        "Số {value} có phần thập phân; số đếm phải là số nguyên.{detail}",
        "{value} has a fraction; counts must be whole numbers.{detail}",
    ),
    "negative-value": (
        E,
        "Số âm ({value}). Số liệu không được âm.{detail}",
        "Negative value ({value}). Values cannot be negative.{detail}",
    ),
    "not-yes-no": (
        E,
        "Giá trị '{value}' không hợp lệ. Chọn 'Có' hoặc 'Không'.{detail}",
        "'{value}' is not valid. Choose 'Có' (yes) or 'Không' (no).{detail}",
    ),
    "formula-no-cache": (
        W,
        "{detail} chưa có kết quả tính (tệp được lưu bởi một chương trình không tính công thức). ctstat đã tự tính "
        "các tổng từ các ô thành phần, đúng như công thức của biểu mẫu, để kiểm tra và tổng hợp: số liệu vẫn dùng "
        "được. Trước khi in hoặc lưu bản của đơn vị, mở tệp bằng Excel hoặc LibreOffice, nhấn Ctrl+Shift+F9 để "
        "tính lại rồi lưu.",
        "{detail} no computed value (the file was saved by a program that does not calculate). ctstat computed the "
        "totals from their parts, by the form's own formulas, to check and roll them up: the data can be used. "
        "Before printing or filing your own copy, open it in Excel or LibreOffice, press Ctrl+Shift+F9 to "
        "recalculate and save it.",
    ),
    "formula-overwritten": (
        W,
        "Ô tổng là công thức nhưng đã bị ghi đè bằng {value}.{detail} Không gõ vào ô tổng: hãy khôi phục công "
        "thức (chép từ biểu mẫu gốc).",
        "This total cell should be a formula but holds the typed value {value}.{detail} Do not type in total "
        "cells: restore the formula from the original form.",
    ),
    # totals and parts
    "sum-mismatch": (
        E,
        "Tổng số ({value}) không bằng tổng các phần {detail} ({expected}). Sửa tổng hoặc các phần cho khớp.",
        "The total ({value}) is not the sum of its parts {detail} ({expected}). Correct the total or the parts.",
    ),
    "overlap-bounds": (
        E,
        "Tổng số ({value}) phải từ {low} (nhóm lớn nhất, {largest}) đến {high} (cộng các nhóm) vì một trẻ có thể "
        "thuộc nhiều nhóm {detail}. Kiểm tra tổng và các nhóm.",
        "The total ({value}) must be between {low} (the largest group, {largest_en}) and {high} (the sum of "
        "groups), since a child can be in several groups {detail}. Check the total and the groups.",
    ),
}

#: `formula-overwritten` of a total left blank: its formula was deleted (not "type a number", as for a blank part)
FORMULA_DELETED = (
    "Ô tổng là công thức nhưng công thức đã bị xóa (ô để trống). Không gõ vào ô tổng: hãy khôi phục công thức "
    "(chép từ biểu mẫu gốc).",
    "This total cell should be a formula but its formula was deleted (the cell is blank). Do not type in total "
    "cells: restore the formula from the original form.",
)

#: `overlap-bounds` reported at the one group larger than its total (where the eye goes: the group's number)
OVERLAP_PART = (
    "Nhóm này ({value}) lớn hơn tổng số ở ô {total} ({expected}): tổng số phải từ nhóm lớn nhất đến {high} "
    "(cộng các nhóm) vì một trẻ có thể thuộc nhiều nhóm {detail}. Sửa số của nhóm này hoặc tổng số.",
    "This group ({value}) is larger than the total in {total} ({expected}): the total must be between the "
    "largest group and {high} (the sum of groups), since a child can be in several groups {detail}. Correct "
    "this group or the total.",
)


def make_issue(code: str, severity: Severity | None = None, **fields: Any) -> Issue:
    """Build an Issue for a built-in code, filling its templates from `fields`.

    Text taken from a file (a cell's value, a name) is quoted printable: control characters escaped, a long value
    cut, so no message can carry an escape sequence or a megabyte."""
    default, vi, en = MESSAGES[code]
    numbers_en = {k: v.en for k, v in fields.items() if isinstance(v, Said)}  # each language writes its own
    if "value" in numbers_en:
        fields.setdefault("value_en", numbers_en["value"])
    if isinstance(fields.get("value"), str):
        fields["value"] = printable(fields["value"], MAX_SHOWN)
    params = {k: ("" if v is None else printable(v, 2000) if isinstance(v, str) else v) for k, v in fields.items()}
    params.setdefault("value", "")
    params.setdefault("detail", "")
    params_en = {**params, **numbers_en, "detail": params.pop("detail_en", numbers_en.get("detail", params["detail"]))}
    value_en = None
    if "value_en" in params:  # a number as an English reader writes it (1.158), where Vietnamese has 1,158
        value_en = params_en["value"] = params_en.pop("value_en")
        params.pop("value_en")
    return Issue(
        code=code,
        severity=severity or default,
        text_vi=vi.format_map(_Defaults(params)),
        text_en=en.format_map(_Defaults(params_en)),
        path=fields.get("path"),
        sheet=fields.get("sheet"),
        cell=fields.get("cell"),
        value=fields.get("value"),
        element=fields.get("element"),
        loc=fields.get("loc"),
        value_en=value_en,
    )


class _Defaults(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


MESSAGES.update(
    {
        "rollup-mismatch": (
            E,
            "Tệp tổng hợp này không dùng được: {detail}.",
            "This rollup workbook cannot be used: {detail}.",
        ),
        "rollup-edited": (
            E,
            "Trang '{sheet}' của tệp tổng hợp đã bị sửa sau khi ctstat ghi ({detail}): số liệu không dùng được. "
            "Hãy tổng hợp lại từ các tệp của xã, phường hoặc đề nghị đơn vị gửi lại tệp tổng hợp gốc.",
            "Sheet '{sheet}' of this rollup workbook was changed after ctstat wrote it ({detail}): its data "
            "cannot be used. Roll up again from the ward files, or ask for the original workbook.",
        ),
        "rollup-unapproved": (
            E,
            "Tệp tổng hợp của {detail} chưa được duyệt (không có bản ghi phê duyệt có chữ ký còn hiệu lực): chưa dùng "
            "được. Đề nghị đơn vị duyệt (ctstat review approve-rollup) rồi gửi lại tệp do ctstat ghi sau khi duyệt.",
            "The rollup workbook of {detail} is not approved (no standing signed approval): not used yet. Ask the "
            "unit to approve it (ctstat review approve-rollup) and send the workbook ctstat writes after that.",
        ),
        "rollup-bad-signature": (
            E,
            "Chuỗi phê duyệt trong tệp tổng hợp không kiểm chứng được: {detail}. Số liệu không dùng được; đề nghị "
            "đơn vị gửi lại tệp gốc.",
            "The review chain in this rollup workbook does not verify: {detail}. Its data cannot be used; ask the "
            "unit for the original workbook.",
        ),
        "rollup-changed-since-approval": (
            E,
            "Trang '{sheet}' không còn là trang {detail}: số liệu đã đổi sau khi duyệt, không dùng được. Đề nghị "
            "đơn vị gửi lại tệp đã duyệt.",
            "Sheet '{sheet}' is no longer the one {detail}: the data changed after approval and cannot be used. "
            "Ask the unit for the approved workbook.",
        ),
        "rollup-totals": (
            E,
            "Tổng in trên biểu ({value}) không bằng tổng các xã, phường trong trang Dữ liệu ({expected}): biểu đã bị "
            "sửa sau khi ctstat ghi.",
            "The printed total ({value}) is not the sum of the wards in the data sheet ({expected}): the sheet was "
            "changed after ctstat wrote it.",
        ),
        "mixed-inputs": (
            E,
            "Số liệu của {unit} có cả trong tệp của xã và trong tệp tổng hợp {detail}. Chỉ gửi một trong hai.",
            "The data of {unit} come both from a ward file and from the rollup workbook {detail}. Send only one.",
        ),
        "outside-unit": (
            W,
            "Đơn vị {unit} không thuộc {detail}; tệp này không được tổng hợp.",
            "Unit {unit} is not part of {detail}; this file is left out of the rollup.",
        ),
    }
)


#: the portal's JSON API errors: the English text a client may branch on -> what a person reads (Vietnamese)
API_ERRORS_VI = {
    "missing or wrong token": "Thiếu mã truy cập hoặc mã không đúng: gửi mã của đơn vị trong tiêu đề "
    "Authorization: Bearer.",
    "too many failed attempts": "Nhập sai mã quá nhiều lần: chờ rồi thử lại (xem Retry-After).",
    "a ward's token cannot read the period's status": "Mã của xã, phường không xem được tình hình cả kỳ: dùng mã "
    "của đơn vị tổng hợp.",
    "another unit's file": "Tệp là báo cáo của đơn vị khác: mỗi đơn vị chỉ gửi báo cáo của mình.",
    "busy, send again later": "Máy chủ đang bận tổng hợp; tệp chưa được nhận. Gửi lại sau vài phút.",
    "internal error": "Lỗi của máy chủ: báo cho cán bộ phụ trách, kèm mã tham chiếu.",
    "not found": "Không có địa chỉ này.",
}


def api_error(text: str) -> dict[str, str]:
    """A JSON API error's body: `error` in Vietnamese (the portal's language), `error_en` in English when the text
    has one (a message written in Vietnamese, such as the upload limit's, has none)."""
    if text in API_ERRORS_VI:
        return {"error": API_ERRORS_VI[text], "error_en": text}
    return {"error": text}


# across periods (issue 24): the history and unusual changes
MESSAGES.update(
    {
        "unusual-change": (
            W,
            "Thay đổi bất thường so với các kỳ trước: {detail}. Kiểm tra lại số liệu; nếu đúng, ghi chú lý do.",
            "Unusual change against earlier periods: {detail}. Check the figure; if it is right, note why.",
        ),
        "reform-split": (
            W,
            "Xã, phường {unit} bị chia cho nhiều xã mới ngày 1/7/2025 ({detail}): số liệu {period} của tệp này không "
            "chia được cho từng xã mới, nên không được tính vào cả năm 2025 theo đơn vị mới. Các xã mới đó cần gửi "
            "báo cáo cả năm 2025.",
            "The commune {unit} was divided between new communes on 1 July 2025 ({detail}): this file's {period} "
            "counts cannot be divided between them, so they are not in the year 2025 by the new units. Those new "
            "communes need to send a report of the whole year 2025.",
        ),
        "history-table": (
            E,
            "Bảng số liệu không dùng được cho lịch sử: {detail}.",
            "This table cannot be used for the history: {detail}.",
        ),
    }
)
