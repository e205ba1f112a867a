"""The list of recognised units (danh sách công nhận) as Excel and CSV, the way officials attach
it to the chairman's decision."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

COLUMNS = (
    ("stt", "STT"),
    ("unit_code", "Mã đơn vị"),
    ("name", "Tên đơn vị"),
    ("kind", "Loại đơn vị"),
    ("commune", "Xã, phường"),
    ("province_code", "Tỉnh"),
    ("year", "Năm"),
    ("level", "Cấp công nhận"),
    ("body", "Cơ quan quyết định"),
    ("decision_no", "Số quyết định"),
    ("decided_on", "Ngày quyết định"),
    ("certificate_no", "Số giấy chứng nhận"),
    # the unit-year's exemplary title beside its recognition (last, so the columns above keep their places)
    ("exemplary", "Điển hình"),
    ("exemplary_decision_no", "Số quyết định điển hình"),
    ("exemplary_certificate_no", "Số giấy chứng nhận điển hình"),
)
#: the "Điển hình" sheet: the exemplary titles recognised, and the ANTT recognition each rests on
EXEMPLARY_COLUMNS = (
    ("stt", "STT"),
    ("unit_code", "Mã đơn vị"),
    ("name", "Tên đơn vị"),
    ("kind", "Loại đơn vị"),
    ("commune", "Xã, phường"),
    ("province_code", "Tỉnh"),
    ("year", "Năm"),
    ("level", "Cấp công nhận"),
    ("body", "Cơ quan quyết định"),
    ("decision_no", "Số quyết định"),
    ("decided_on", "Ngày quyết định"),
    ("certificate_no", "Số giấy chứng nhận"),
    ("antt_decision_no", "Quyết định công nhận ANTT"),
)


def _rows(items: list[dict[str, Any]], columns: tuple[tuple[str, str], ...] = COLUMNS) -> list[list[Any]]:
    return [[i + 1 if key == "stt" else item.get(key, "") for key, _ in columns] for i, item in enumerate(items)]


def _sheet(
    ws: Any, title: str, columns: tuple[tuple[str, str], ...], items: list[dict[str, Any]], widths: tuple[int, ...]
) -> None:
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([label for _, label in columns])
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for row in _rows(items, columns):
        ws.append(row)
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.freeze_panes = "A3"


def to_xlsx(
    items: list[dict[str, Any]],
    *,
    title: str,
    exemplary: list[dict[str, Any]] | None = None,
    exemplary_title: str = "Danh sách đơn vị được công nhận điển hình",
) -> bytes:
    """The recognised units on the first sheet; the exemplary titles recognised on a second
    sheet "Điển hình" (when given: an official attaches each list to its own decision)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Danh sách công nhận"
    _sheet(ws, title, COLUMNS, items, (6, 18, 40, 20, 22, 8, 8, 14, 30, 18, 14, 22, 26, 20, 22))
    if exemplary is not None:
        _sheet(
            wb.create_sheet("Điển hình"),
            exemplary_title,
            EXEMPLARY_COLUMNS,
            exemplary,
            (6, 18, 40, 20, 22, 8, 8, 14, 30, 18, 14, 22, 20),
        )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def to_csv(items: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([label for _, label in COLUMNS])
    w.writerows(_rows(items))
    # UTF-8 with a BOM: Excel then opens the Vietnamese text correctly
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
