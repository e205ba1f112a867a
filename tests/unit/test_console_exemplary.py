"""The console's exemplary track (điển hình) without a broker: the approval service is fed the
events of an agency recognised "An toàn về ANTT" and proposed for the exemplary title through
faststream's in-memory broker (its real policies open the title's case), then the console is
driven over HTTP: the "Điển hình" queue, the unit-year's section, the decision form through
``commands.decide_exemplary`` with its refusals, the revocation, the dashboard and the exports."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from services.approval import queries
from services.approval.app import MIGRATIONS, create_runtime
from services.approval.console import mount_console
from services.approval.console.reads import exemplary_assessment
from services.approval.console.settings import ConsoleSettings
from services.approval.settings import ApprovalSettings
from shared.contracts import topics
from shared.contracts.envelope import build_envelope
from shared.contracts.lifecycle import exemplary_stream
from tests.unit.builders import NATIONAL, OFFICER, Stream, message, unit
from tests.unit.harness import running

CODE = "QN-CQ-7"
UY = f"{CODE}:2025"
UNIT = unit(CODE, "agency", name="Sở Tư pháp tỉnh Quảng Ngãi", commune_code=None, managing_level="province")
OFFICIALS = [
    {
        "id": "bcd-51",
        "name": "Ban Chỉ đạo tỉnh Quảng Ngãi",
        "role": "appraise",
        "level": "province",
        "jurisdiction": "province:51",
    },
    {
        "id": "ubnd-51",
        "name": "Văn phòng UBND tỉnh Quảng Ngãi",
        "role": "decide",
        "level": "province",
        "jurisdiction": "province:51",
    },
    {"id": "ubnd-19", "name": "UBND tỉnh Thái Nguyên", "role": "decide", "level": "province", "jurisdiction": "province:19"},
]
TITLES = {f"DH-{i}": f"Tiêu chí điển hình {i}" for i in range(1, 15)}


class Exemplary:
    """The assessment service's exemplary-track envelopes of one unit-year (stream ``exemplary:<uy>``)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def next(self, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        prev = self.events[-1] if self.events else None
        env = build_envelope(
            event_type=event_type,
            payload=payload,
            producer="assessment",
            actor=OFFICER,
            stream_id=exemplary_stream(UY),
            unit_year_id=UY,
            sequence=len(self.events) + 1,
            prev_hash=prev["hash"] if prev else None,
            correlation_id="corr-ex",
            causation_id=prev["event_id"] if prev else None,
        )
        self.events.append(env)
        return env


def self_assessment(round_: int, unmet: tuple[str, ...] = ()) -> dict[str, Any]:
    criteria = [
        {
            "code": code,
            "title": title,
            "claimed_met": True,
            "result": "not_met" if code in unmet else "met",
            "reason": f"{code}: {'thiếu minh chứng' if code in unmet else 'đủ minh chứng'} (lần {round_})",
        }
        for code, title in TITLES.items()
    ]
    return {
        "unit_year_id": UY,
        "round": round_,
        "unit": UNIT,
        "year": 2025,
        "meeting_date": "2025-11-25",
        "criteria_catalog": "exemplary.51.2023",
        "criteria": criteria,
        "verdict": "not_met" if unmet else "met",
        "unmet": list(unmet),
        "documents": [{"kind": "exemplary_plan", "ref": "KH-ĐH-2025", "issued_on": "2025-02-20"}],
        "movement_rating": "xuat_sac",
    }


async def recognised_and_proposed(tmp_path: Path, ex: Exemplary) -> None:
    """ANTT: opened, self-assessed (đạt), appraised and recognised by the province; then the
    movement classified Xuất sắc, the proposal and the first exemplary self-assessment."""
    async with running(tmp_path, create_runtime, ApprovalSettings, MIGRATIONS) as svc:
        ass = Stream("assessment", UY)
        opened = {
            "unit_year_id": UY,
            "year": 2025,
            "unit": UNIT,
            "window_start": "2024-11-16",
            "window_end": "2025-11-15",
            "criteria_catalog": "agency.2021",
        }
        await svc.publish_event(ass.next("AssessmentOpened", opened), topics.ASSESSMENT_EVENTS)
        recorded = {
            "unit_year_id": UY,
            "round": 1,
            "unit": UNIT,
            "year": 2025,
            "meeting_date": "2025-11-04",
            "criteria": [],
            "verdict": "met",
            "unmet": [],
        }
        await svc.publish_event(ass.next("SelfAssessmentRecorded", recorded), topics.ASSESSMENT_EVENTS)
        for no in ("12/BC-BCĐ", "1234/QĐ-UBND"):
            decision = {"unit_year_id": UY, "level": "province", "decision": "pass", "decided_by": "tỉnh", "decision_no": no}
            await svc.publish(message("ReviewDecisionSubmitted", decision, sender=NATIONAL), topics.INBOUND)
        movement = {"unit_year_id": UY, "rating": "xuat_sac", "classified_by": "Ban Chỉ đạo tỉnh", "decision_no": "88/QĐ-BCĐ"}
        await svc.publish_event(ex.next("MovementClassificationRecorded", movement), topics.ASSESSMENT_EVENTS)
        proposal = {
            "unit_year_id": UY,
            "year": 2025,
            "unit": UNIT,
            "criteria_catalog": "exemplary.51.2023",
            "proposed_by": "Giám đốc Sở",
            "submission_ref": "15/TTr-STP",
            "antt_recognition": {"decision_no": "1234/QĐ-UBND", "level": "province"},
        }
        await svc.publish_event(ex.next("ExemplaryCaseOpened", proposal), topics.ASSESSMENT_EVENTS)
        await svc.publish_event(ex.next("ExemplarySelfAssessmentRecorded", self_assessment(1)), topics.ASSESSMENT_EVENTS)


async def feed(tmp_path: Path, *envs: dict[str, Any]) -> None:
    async with running(tmp_path, create_runtime, ApprovalSettings, MIGRATIONS) as svc:
        for env in envs:
            await svc.publish_event(env, topics.ASSESSMENT_EVENTS)


def console(tmp_path: Path) -> TestClient:
    tokens = {f"tok-{o['id']}": o for o in OFFICIALS}
    (tmp_path / "officials.json").write_text(json.dumps(tokens), encoding="utf-8")
    settings = ApprovalSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/service.db", api_tokens_file=tmp_path / "officials.json"
    )  # type: ignore[arg-type]
    app = FastAPI()
    mount_console(app, create_runtime(settings), ConsoleSettings())
    return TestClient(app)


def sign_in(c: TestClient, official: str) -> None:
    c.cookies.clear()
    c.get("/console/login")
    r = c.post("/console/login", data={"official": official}, headers={"x-csrftoken": c.cookies["antt_csrf"]})
    assert r.status_code == 200


def post(c: TestClient, path: str, data: dict[str, Any]) -> Any:
    return c.post(path, data=data, headers={"x-csrftoken": c.cookies["antt_csrf"], "HX-Request": "true"})


def version(page: str) -> str:
    form = page[page.index('id="exemplary-form"') :]
    m = re.search(r'name="version" value="(\d+)"', form)
    assert m is not None
    return m.group(1)


def version_now(tmp_path: Path) -> str:
    """The title's version now (a page with no form does not show it)."""

    async def read() -> int:
        settings = ApprovalSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/service.db")  # type: ignore[arg-type]
        rt = create_runtime(settings)
        try:
            title = await rt.read(lambda s: queries.exemplary_title(s, UY))
            assert title is not None
            return int(title.version)
        finally:
            await rt.engine.dispose()

    return str(asyncio.run(read()))


def state_of(page: str) -> str:
    m = re.search(r'id="exemplary-state">([^<]+)<', page)
    assert m is not None
    return m.group(1)


def test_an_official_works_the_exemplary_title_from_queue_to_recognition(tmp_path: Path) -> None:
    ex = Exemplary()
    asyncio.run(recognised_and_proposed(tmp_path, ex))
    c = console(tmp_path)
    page_url = f"/console/unit-years/{UY}"

    # the queue: a tab "Điển hình" beside the ANTT queue, with its count
    sign_in(c, "bcd-51")
    q = c.get("/console/queue").text
    assert 'id="tab-exemplary"' in q and re.search(r'id="exemplary-waiting">1<', q)
    assert f'data-unit-year="{UY}"' not in q  # the ANTT queue: the unit-year is recognised
    q = c.get("/console/queue?track=exemplary").text
    assert f'data-unit-year="{UY}"' in q and "Sở Tư pháp tỉnh Quảng Ngãi" in q and "Ban Chỉ đạo tỉnh (thẩm định)" in q
    assert "Chờ thẩm định điển hình" in q and "1234/QĐ-UBND" in q
    rows = c.get("/console/queue/rows?track=exemplary&step=review").text  # htmx polling
    assert f'data-unit-year="{UY}"' in rows and "<h1>" not in rows
    assert f'data-unit-year="{UY}"' not in c.get("/console/queue/rows?track=exemplary&step=decide").text

    # the unit-year's page: the section, the movement, the 14 criteria, the form of the step
    page = c.get(page_url).text
    assert 'id="exemplary"' in page and state_of(page) == "Chờ thẩm định điển hình"
    assert "Xuất sắc" in page and "88/QĐ-BCĐ" in page and "15/TTr-STP" in page
    assert all(f'data-criterion="DH-{i}"' in page for i in range(1, 15)) and "DH-14: đủ minh chứng (lần 1)" in page
    assert "Thông qua (thẩm định đạt)" in page and 'id="exemplary-revoke"' not in page
    assert "Đề nghị công nhận điển hình" in page and "Phân loại phong trào" in page  # the timeline

    # a return without reasons is refused in Vietnamese; nothing is written
    r = post(c, f"{page_url}/exemplary/decide", {"decision": "return", "step": "review", "version": version(page)})
    assert "phải ghi rõ nội dung cần bổ sung" in r.text and "HX-Refresh" not in r.headers
    assert state_of(c.get(page_url).text) == "Chờ thẩm định điển hình"
    # a form opened on another version of the title is refused
    r = post(c, f"{page_url}/exemplary/decide", {"decision": "pass", "step": "review", "version": "99"})
    assert "vừa được thay đổi" in r.text
    # the return, with what to supplement
    form = {
        "decision": "return",
        "level": "province",
        "step": "review",
        "version": version(page),
        "reasons": "Bổ sung minh chứng tiêu chí 13",
    }
    r = post(c, f"{page_url}/exemplary/decide", form)
    assert r.headers["HX-Refresh"] == "true"
    page = c.get(page_url).text
    assert state_of(page) == "Trả lại bổ sung (điển hình)" and "Bổ sung minh chứng tiêu chí 13" in page
    assert 'id="exemplary-form"' not in page
    # the same form sent again (a second click) is refused: the step is no longer current
    r = post(c, f"{page_url}/exemplary/decide", form)
    assert "HX-Refresh" not in r.headers and "vừa được thay đổi" in r.text
    assert "Trạng thái hiện tại: Trả lại bổ sung (điển hình)" in r.text
    r = post(c, f"{page_url}/exemplary/decide", {**form, "version": version_now(tmp_path)})
    assert "Bước này đã được quyết định hoặc không còn chờ" in r.text
    assert f'data-unit-year="{UY}"' not in c.get("/console/queue?track=exemplary").text

    # the second self-assessment: back in the queue, round 2
    asyncio.run(feed(tmp_path, ex.next("ExemplarySelfAssessmentRecorded", self_assessment(2))))
    q = c.get("/console/queue?track=exemplary").text
    assert f'data-unit-year="{UY}"' in q
    page = c.get(page_url).text
    assert "DH-14: đủ minh chứng (lần 2)" in page
    r = post(
        c,
        f"{page_url}/exemplary/decide",
        {"decision": "pass", "step": "review", "version": version(page), "decision_no": "20/BC-BCĐ"},
    )
    assert "HX-Refresh" in r.headers
    page = c.get(page_url).text
    assert state_of(page) == "Đã thẩm định điển hình (tỉnh)"
    assert "Bước này là công nhận" in page  # the appraiser sees the step, not theirs to take
    r = post(c, f"{page_url}/exemplary/decide", {"decision": "pass", "step": "decide", "version": version(page)})
    assert "Bước đang chờ không thuộc nhiệm vụ" in r.text

    # the province's chairman's office recognises the title
    sign_in(c, "ubnd-51")
    assert f'data-unit-year="{UY}"' in c.get("/console/queue?track=exemplary").text
    page = c.get(page_url).text
    assert "Công nhận điển hình" in page and 'id="x-certificate_no"' in page
    form = {
        "decision": "pass",
        "step": "decide",
        "version": version(page),
        "decision_no": "55/QĐ-UBND",
        "certificate_no": "GCN-ĐH-2025-01",
        "decided_on": "2025-12-10",
    }
    assert "HX-Refresh" in post(c, f"{page_url}/exemplary/decide", form).headers
    page = c.get(page_url).text
    assert state_of(page) == "Đã công nhận điển hình" and "55/QĐ-UBND" in page and "GCN-ĐH-2025-01" in page
    assert 'id="exemplary-revoke"' in page and 'id="exemplary-form"' not in page
    assert "Công nhận điển hình" in page[page.index('id="timeline"') :]

    # the dashboard and the exports
    follow = c.get("/console/follow?year=2025").text
    assert 'id="by-kind-exemplary"' in follow and re.search(r'data-total="recognized">1<', follow)
    wb = load_workbook(io.BytesIO(c.get("/console/export.xlsx?year=2025").content))
    assert wb.sheetnames == ["Danh sách công nhận", "Điển hình"]
    [antt] = [r for r in wb["Danh sách công nhận"].iter_rows(min_row=3, values_only=True)]
    assert (
        antt[1] == CODE and antt[9] == "1234/QĐ-UBND" and antt[12:] == ("Đã công nhận điển hình", "55/QĐ-UBND", "GCN-ĐH-2025-01")
    )
    [title] = [r for r in wb["Điển hình"].iter_rows(min_row=3, values_only=True)]
    assert (title[1], title[9], title[10], title[11], title[12]) == (
        CODE,
        "55/QĐ-UBND",
        "2025-12-10",
        "GCN-ĐH-2025-01",
        "1234/QĐ-UBND",
    )
    rows = list(csv.reader(io.StringIO(c.get("/console/export.csv?year=2025").content.decode("utf-8-sig"))))
    assert rows[0][12] == "Điển hình" and rows[1][12:] == ["Đã công nhận điển hình", "55/QĐ-UBND", "GCN-ĐH-2025-01"]

    # outside the jurisdiction: neither the page nor the queue
    sign_in(c, "ubnd-19")
    assert c.get(page_url).status_code == 403
    assert f'data-unit-year="{UY}"' not in c.get("/console/queue?track=exemplary").text
    assert "Chưa có đơn vị nào được đề nghị công nhận điển hình" in c.get("/console/follow?year=2025").text
    r = post(c, f"{page_url}/exemplary/revoke", {"reasons": "x"})
    assert r.status_code == 403

    # the recognising level revokes the title alone, with its reasons
    sign_in(c, "ubnd-51")
    r = post(c, f"{page_url}/exemplary/revoke", {"reasons": ""})
    assert "phải ghi rõ lý do" in r.text
    r = post(c, f"{page_url}/exemplary/revoke", {"reasons": "Kiểm tra lại tiêu chí 13", "decision_no": "60/QĐ-UBND"})
    assert "HX-Refresh" in r.headers
    page = c.get(page_url).text
    assert state_of(page) == "Đã thu hồi danh hiệu điển hình" and "60/QĐ-UBND" in page
    assert re.search(r'id="state">Đã công nhận<', page)  # the ANTT recognition stays


def test_a_unit_year_without_a_title_has_no_section(tmp_path: Path) -> None:
    async def antt_only() -> None:
        async with running(tmp_path, create_runtime, ApprovalSettings, MIGRATIONS) as svc:
            opened = {
                "unit_year_id": UY,
                "year": 2025,
                "unit": UNIT,
                "window_start": "2024-11-16",
                "window_end": "2025-11-15",
                "criteria_catalog": "agency.2021",
            }
            await svc.publish_event(Stream("assessment", UY).next("AssessmentOpened", opened), topics.ASSESSMENT_EVENTS)

    asyncio.run(antt_only())
    c = console(tmp_path)
    sign_in(c, "ubnd-51")
    page = c.get(f"/console/unit-years/{UY}").text
    assert 'id="exemplary"' not in page
    r = post(c, f"/console/unit-years/{UY}/exemplary/decide", {"decision": "pass"})
    assert r.status_code == 404 and "chưa được đề nghị công nhận điển hình" in r.text
    q = c.get("/console/queue?track=exemplary").text
    assert "Không có hồ sơ điển hình nào chờ xử lý" in q


def _history(*events: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"event_type": t, "payload": p} for t, p in events]


def test_the_exemplary_self_assessment_as_revised() -> None:
    sa = self_assessment(1)
    revised = {"unit_year_id": UY, "round": 1, "verdict": "not_met", "unmet": ["DH-8"], "reason": "ANTT revoked"}
    view = exemplary_assessment(_history(("ExemplarySelfAssessmentRecorded", sa), ("ExemplaryEvaluationRevised", revised)))
    assert view is not None and (view["verdict"], view["unmet"]) == ("not_met", ["DH-8"])
    dh8 = next(c for c in view["criteria"] if c["code"] == "DH-8")
    assert (dh8["result"], dh8["revised"], dh8["revision_reason"]) == ("not_met", True, "ANTT revoked")
    assert not next(c for c in view["criteria"] if c["code"] == "DH-1")["revised"]
    # a revision of an earlier round is superseded by the new self-assessment
    later = exemplary_assessment(
        _history(
            ("ExemplarySelfAssessmentRecorded", sa),
            ("ExemplaryEvaluationRevised", revised),
            ("ExemplarySelfAssessmentRecorded", self_assessment(2)),
        )
    )
    assert later is not None and later["revision"] is None and later["verdict"] == "met" and later["round"] == 2
    assert exemplary_assessment(_history(("ExemplaryCaseOpened", {}))) is None


def test_revoking_the_antt_recognition_from_the_console_lapses_a_pending_title(tmp_path: Path) -> None:
    asyncio.run(recognised_and_proposed(tmp_path, Exemplary()))
    c = console(tmp_path)
    sign_in(c, "ubnd-51")
    page_url = f"/console/unit-years/{UY}"
    r = post(c, f"{page_url}/revoke", {"reasons": "Để xảy ra tội phạm nghiêm trọng, báo cáo muộn", "decision_no": "77/QĐ-UBND"})
    assert r.headers.get("HX-Redirect") == page_url
    page = c.get(page_url).text
    assert re.search(r'id="state">Đã thu hồi<', page)
    assert state_of(page) == "Đề nghị hết hiệu lực (không còn công nhận ANTT)"
    assert "Đề nghị điển hình hết hiệu lực" in page[page.index('id="timeline"') :] and "77/QĐ-UBND" in page
    assert 'id="exemplary-form"' not in page
    sign_in(c, "bcd-51")
    assert f'data-unit-year="{UY}"' not in c.get("/console/queue?track=exemplary").text
