"""The console without a broker: the development sign-in and its production switch, the
session and CSRF cookies, refusals in Vietnamese, and the export formats."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from services.approval.app import MIGRATIONS, create_runtime
from services.approval.console import export, labels, mount_console
from services.approval.console.session import Official
from services.approval.console.settings import ConsoleSettings
from services.approval.settings import ApprovalSettings
from shared.infra.auth import InsecureSessionSecret
from shared.infra.migrate import upgrade_head_async

OFFICIALS = [
    {"id": "ca-pd", "name": "Công an xã Phú Đình", "role": "appraise", "level": "commune", "jurisdiction": "commune:PD"},
    {"id": "ubnd-19", "name": "UBND tỉnh Thái Nguyên", "role": "decide", "level": "province", "jurisdiction": "province:19"},
]


def client(tmp_path: Path, *, https: bool = False, **kw: str) -> TestClient:
    tokens = {f"tok-{o['id']}": o for o in OFFICIALS}
    (tmp_path / "tokens.json").write_text(json.dumps(tokens), encoding="utf-8")
    settings = ApprovalSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/a.db", api_tokens_file=tmp_path / "tokens.json", **kw
    )  # type: ignore[arg-type]
    asyncio.run(upgrade_head_async(MIGRATIONS, settings.db_url()))
    app = FastAPI()
    mount_console(app, create_runtime(settings), ConsoleSettings())
    # no lifespan: nothing connects; production cookies are Secure, so over https
    return TestClient(app, base_url="https://testserver" if https else "http://testserver")


def signed_in(c: TestClient, official: str) -> TestClient:
    c.get("/console/login")
    r = c.post("/console/login", data={"official": official}, headers={"x-csrftoken": c.cookies["antt_csrf"]})
    assert r.status_code == 200 and r.headers["HX-Redirect"] == "/console/queue"
    return c


def test_the_development_sign_in_lists_the_officials_and_sets_a_safe_session(tmp_path: Path) -> None:
    c = client(tmp_path)
    page = c.get("/console/login")
    assert page.status_code == 200 and 'lang="vi"' in page.text
    assert "Công an xã Phú Đình" in page.text and "UBND tỉnh Thái Nguyên" in page.text
    assert "/console/vendor/htmx/htmx.min.js" in page.text
    assert c.get("/console/vendor/htmx/htmx.min.js").status_code == 200  # served from the registry package
    c.get("/console/login")
    r = c.post("/console/login", data={"official": "ca-pd"}, headers={"x-csrftoken": c.cookies["antt_csrf"]})
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("antt_session="))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    csrf = (
        next(h for h in r.headers.get_list("set-cookie") if h.startswith("antt_csrf="))
        if "antt_csrf=" in str(r.headers)
        else None
    )
    assert csrf is None  # set once, on the first answer, and kept
    assert c.get("/console/queue").status_code == 200  # signed in


def test_every_state_changing_form_needs_the_csrf_token(tmp_path: Path) -> None:
    c = client(tmp_path)
    c.get("/console/login")
    assert c.post("/console/login", data={"official": "ca-pd"}).status_code == 403
    assert c.post("/console/login", data={"official": "ca-pd"}, headers={"x-csrftoken": "forged"}).status_code == 403
    signed_in(c, "ca-pd")
    assert c.post("/console/logout").status_code == 403
    assert c.post("/console/unit-years/X:2025/claim").status_code == 403


def test_pages_need_a_signed_in_official(tmp_path: Path) -> None:
    c = client(tmp_path)
    r = c.get("/console/queue", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    r = c.get("/console/queue", headers={"HX-Request": "true"})
    assert r.headers["HX-Redirect"] == "/console/login"


def test_production_has_no_development_sign_in(tmp_path: Path) -> None:
    c = client(tmp_path, https=True, environment="production", session_secret="s" * 48)
    page = c.get("/console/login")
    assert "Công an xã Phú Đình" not in page.text and "định danh" in page.text
    r = c.post("/console/login", data={"official": "ca-pd"}, headers={"x-csrftoken": c.cookies["antt_csrf"]})
    assert r.status_code == 404
    with pytest.raises(InsecureSessionSecret):
        client(tmp_path, environment="production")  # the development session secret is public


def test_officials_and_their_steps() -> None:
    o = Official.model_validate(OFFICIALS[0])
    assert o.may_take("review") and not o.may_take("decide") and o.ref == {"id": "ca-pd", "name": "Công an xã Phú Đình"}
    assert Official.model_validate({**OFFICIALS[0], "role": "supervise"}).may_take("decide")
    assert not Official.model_validate({**OFFICIALS[0], "role": "follow"}).may_take("review")
    with pytest.raises(ValueError):
        Official.model_validate({**OFFICIALS[0], "role": "admin"})


def test_refusals_read_in_vietnamese() -> None:
    msg = labels.refusal("claimed_by_other", "x", {"holder": {"id": "a", "name": "Trung úy An"}})
    assert msg.startswith("Hồ sơ đang do cán bộ khác xử lý.") and "Trung úy An" in msg
    rollup = {
        "registered": 7,
        "children_total": 7,
        "registered_pct": 100.0,
        "recognized": 4,
        "recognized_pct": 57.1,
        "pending": [],
    }

    class Case:
        verdict, unmet = "met", []

    assert "57.1%, yêu cầu tối thiểu 70%" in labels.refusal("criteria_not_met", "x", {"case": Case(), "rollup": rollup})
    assert "nội dung cần bổ sung" in labels.refusal("invalid_payload", "a return decision must give reasons (...)")


def test_the_export_formats() -> None:
    items = [
        {
            "unit_code": "TNG-PD",
            "name": "Xã Phú Đình",
            "kind": "Xã, phường, thị trấn",
            "commune": "Xã Phú Đình",
            "province_code": "19",
            "year": 2025,
            "level": "Cấp tỉnh",
            "body": "Chủ tịch UBND tỉnh",
            "decision_no": "119/QĐ-UBND",
            "decided_on": "2025-11-19",
            "certificate_no": "GCN-1",
        }
    ]
    ws = load_workbook(io.BytesIO(export.to_xlsx(items, title="Danh sách"))).active
    assert ws["A1"].value == "Danh sách" and [c.value for c in ws[2]][:3] == ["STT", "Mã đơn vị", "Tên đơn vị"]
    assert [c.value for c in ws[3]][1:3] == ["TNG-PD", "Xã Phú Đình"] and ws["L3"].value == "GCN-1"
    rows = list(csv.reader(io.StringIO(export.to_csv(items).decode("utf-8-sig"))))
    assert rows[0][0] == "STT" and rows[1][1] == "TNG-PD" and rows[1][11] == "GCN-1"
    assert rows[0][12:] == ["Điển hình", "Số quyết định điển hình", "Số giấy chứng nhận điển hình"]
    assert load_workbook(io.BytesIO(export.to_xlsx(items, title="Danh sách"))).sheetnames == ["Danh sách công nhận"]
