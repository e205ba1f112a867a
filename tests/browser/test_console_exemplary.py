"""The exemplary title (điển hình, seed 003) worked from the console in a real Chromium, against
the running system (real Kafka, the three services as processes, SQLite and PostgreSQL).

Everything the officials do not do themselves arrives through the real inbound path, as signed
messages on ``antt.inbound.v1``: an agency of Quảng Ngãi (51) is recognised "An toàn về ANTT",
its movement classified Xuất sắc, it is proposed for the title and self-assessed with every DH
criterion met. In the console the province steering committee returns it once with a reason;
the unit's second self-assessment arrives while the "Điển hình" queue is open (htmx polling);
the committee appraises it and the chairman's office recognises it, with the decision and
certificate numbers, which the Excel export's "Điển hình" sheet then lists.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from deploy.client import AnttClient
from deploy.driver import Plan, registration_msg, self_assessment_msg, unit_msg
from tests.browser.test_console import base, open_page, queue_ids, sign_in, wait
from tests.e2e.conftest import System
from tests.e2e.test_exemplary import EVIDENCE, EXEMPLARY_PLAN

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

AGENCY = Plan(
    code="QN-STP",
    kind="agency",
    province_code="51",
    commune_code=None,
    managing_level="province",
    name="Sở Tư pháp tỉnh Quảng Ngãi",
)
UY = AGENCY.unit_year_id
RETURN_REASON = "Bổ sung minh chứng hoạt động an sinh xã hội (tiêu chí 13)"


def exemplary_self_assessment() -> dict[str, Any]:
    return {
        "unit_year_id": UY,
        "criteria": [{"code": f"DH-{i}", "met": True} for i in range(1, 15)],
        "documents": [EXEMPLARY_PLAN],
        "meeting_date": "2025-11-25",
        "evidence": EVIDENCE,
    }


async def recognised_and_proposed(bootstrap: str) -> None:
    """ANTT first (registration, self-assessment, the province's appraisal and recognition),
    then the movement's classification, the proposal and the exemplary self-assessment."""
    async with AnttClient(bootstrap) as client:
        await client.send("UnitRegistrationSubmitted", unit_msg(AGENCY), key=AGENCY.code)
        await client.send("UnitYearRegistrationSubmitted", registration_msg(AGENCY), key=AGENCY.code)
        await client.wait_event(UY, "AssessmentOpened", timeout=90)
        await client.send("SelfAssessmentSubmitted", self_assessment_msg(AGENCY), key=AGENCY.code)
        ev = await client.wait_event(UY, "UnitYearSelfScored", timeout=90)
        while ev["event_type"] != "UnitYearRecognized":
            n = len(client.events[UY])
            level = ev["payload"]["pending_level"]
            decision = {
                "unit_year_id": UY,
                "level": level,
                "decision": "pass",
                "decided_by": f"officer@{level}",
                "decision_no": "1234/QĐ-UBND" if ev["event_type"] == "UnitYearReviewed" else "12/BC-CAT",
                "certificate_no": "GCN-ANTT-QN-STP",
            }
            await client.send("ReviewDecisionSubmitted", decision, key=AGENCY.code)
            ev = await client.wait_event(UY, "UnitYearReviewed", "UnitYearRecognized", after=n, timeout=60)
        # the assessment service has taken in the recognition: only now is a proposal accepted
        closed = await client.wait_event(UY, "AssessmentClosed", timeout=60)
        assert closed["payload"]["outcome"] == "recognized"
        movement = {"unit_year_id": UY, "rating": "xuat_sac", "classified_by": "Ban Chỉ đạo tỉnh", "decision_no": "88/QĐ-BCĐ"}
        await client.send("MovementClassificationSubmitted", movement, key=AGENCY.code)
        await client.wait_event(UY, "MovementClassificationRecorded", timeout=60)
        proposal = {"unit_year_id": UY, "proposed_by": "Giám đốc Sở Tư pháp", "submission_ref": "15/TTr-STP"}
        await client.send("ExemplaryProposalSubmitted", proposal, key=AGENCY.code)
        await client.wait_event(UY, "ExemplaryTitleCaseOpened", timeout=60)
        await client.send("ExemplarySelfAssessmentSubmitted", exemplary_self_assessment(), key=AGENCY.code)
        scored = await client.wait_event(UY, "ExemplaryTitleSelfScored", timeout=60)
        assert scored["payload"]["verdict"] == "met", scored["payload"]


async def self_assessed_again(bootstrap: str) -> None:
    """The unit's second exemplary self-assessment, once its case is reopened for supplement
    (the reopening happened at the return: the client reads the topics from their beginning)."""
    async with AnttClient(bootstrap, from_beginning=True) as client:
        await client.wait_event(UY, "ExemplaryCaseReopened", timeout=60)
        await client.send("ExemplarySelfAssessmentSubmitted", exemplary_self_assessment(), key=AGENCY.code)

        def second() -> dict[str, Any] | None:
            return next(
                (e for e in client.events[UY] if e["event_type"] == "ExemplaryTitleSelfScored" and e["payload"]["round"] == 2),
                None,
            )

        scored = await client.wait_until(second, timeout=60, what="the title's second self-assessment")
        assert scored["payload"]["verdict"] == "met", scored["payload"]


def x_decide(driver: WebDriver, decision: str, *, reasons: str = "", decision_no: str = "", certificate_no: str = "") -> None:
    driver.find_element(By.ID, f"x-{decision}").click()
    if reasons:
        driver.find_element(By.ID, "x-reasons").send_keys(reasons)
    if decision_no:
        driver.find_element(By.ID, "x-decision_no").send_keys(decision_no)
    if certificate_no:
        driver.find_element(By.ID, "x-certificate_no").send_keys(certificate_no)
    driver.find_element(By.ID, "exemplary-submit").click()


def x_state_becomes(driver: WebDriver, label: str) -> None:
    wait(driver, 30).until(EC.text_to_be_present_in_element((By.ID, "exemplary-state"), label))


def test_the_steering_committee_returns_the_proposal_with_a_reason(
    console_system: System, browser: WebDriver, screenshots: Path
) -> None:
    asyncio.run(recognised_and_proposed(console_system.bootstrap))
    sign_in(browser, console_system, "bcd-qn")
    assert UY not in queue_ids(browser)  # the ANTT queue: the agency is recognised
    browser.find_element(By.ID, "tab-exemplary").click()
    wait(browser).until(lambda d: UY in queue_ids(d))
    row = browser.find_element(By.ID, "xrow-" + UY.replace(":", "-"))
    assert "Chờ thẩm định điển hình" in row.text and "Ban Chỉ đạo tỉnh (thẩm định)" in row.text and "Đạt" in row.text
    browser.save_screenshot(str(screenshots / f"exemplary-queue-{console_system.backend}.png"))
    row.find_element(By.LINK_TEXT, AGENCY.name).click()
    wait(browser).until(EC.presence_of_element_located((By.ID, "exemplary-state")))

    section = browser.find_element(By.ID, "exemplary")
    assert "Xuất sắc" in browser.find_element(By.ID, "movement").text
    criteria = browser.find_element(By.ID, "exemplary-criteria")
    assert [r.get_attribute("data-criterion") for r in criteria.find_elements(By.CSS_SELECTOR, "tr[data-criterion]")] == [
        f"DH-{i}" for i in range(1, 15)
    ]
    assert "Chưa đạt" not in criteria.text  # met, or a judgement left to the reviewer (cần thẩm định)
    dh8 = criteria.find_element(By.CSS_SELECTOR, "tr[data-criterion='DH-8']")
    assert dh8.find_elements(By.CSS_SELECTOR, ".result-met")  # recognised ANTT, movement Xuất sắc
    assert "Đã công nhận" in browser.find_element(By.ID, "state").text  # the ANTT recognition
    assert "Đề nghị công nhận điển hình" in browser.find_element(By.ID, "timeline").text
    browser.execute_script("arguments[0].scrollIntoView()", section)
    browser.save_screenshot(str(screenshots / f"exemplary-section-{console_system.backend}.png"))

    # a return without what to supplement is refused on the form, in Vietnamese
    x_decide(browser, "return")
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "exemplary-errors"), "phải ghi rõ nội dung cần bổ sung"))
    assert "Chờ thẩm định điển hình" in browser.find_element(By.ID, "exemplary-state").text

    x_decide(browser, "return", reasons=RETURN_REASON, decision_no="7/BCĐ")
    x_state_becomes(browser, "Trả lại bổ sung (điển hình)")
    assert RETURN_REASON in browser.find_element(By.ID, "exemplary-decisions").text
    assert RETURN_REASON in browser.find_element(By.ID, "timeline").text
    assert not browser.find_elements(By.ID, "exemplary-form")


def test_the_second_self_assessment_arrives_and_the_title_is_recognised(
    console_system: System, browser: WebDriver, screenshots: Path
) -> None:
    sign_in(browser, console_system, "bcd-qn")
    open_page(browser, base(console_system) + "/queue?track=exemplary")
    assert UY not in queue_ids(browser)
    browser.execute_script("window.__same_page = true")
    asyncio.run(self_assessed_again(console_system.bootstrap))
    wait(browser, 30).until(lambda d: UY in queue_ids(d))  # htmx polling, no reload
    assert browser.execute_script("return window.__same_page === true")

    # Tôi xử lý on the title's step, from the exemplary queue: the committee holds it, and a
    # decision on the title by anyone else is refused while it does (here over the JSON API)
    browser.find_element(By.ID, "xrow-" + UY.replace(":", "-")).find_element(By.CSS_SELECTOR, "button.claim").click()
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "exemplary-holder"), "Ban Chỉ đạo tỉnh Quảng Ngãi"))
    assert "Nhận xử lý (điển hình)" in browser.find_element(By.ID, "timeline").text
    assert not browser.find_elements(By.ID, "holder")  # the ANTT chain's claims are apart
    browser.execute_script("arguments[0].scrollIntoView()", browser.find_element(By.ID, "exemplary-claim-box"))
    browser.save_screenshot(str(screenshots / f"exemplary-claimed-{console_system.backend}.png"))
    r = console_system.post(
        "approval", f"/unit-years/{UY}/exemplary/decisions", {"level": "province", "decision": "pass", "decided_by": "admin"}
    )
    assert r.status_code == 409 and r.json()["error_code"] == "claimed_by_other"
    assert "Ban Chỉ đạo tỉnh Quảng Ngãi" in r.json()["reason"]
    open_page(browser, base(console_system) + "/queue?track=exemplary&claim=mine")
    assert UY in queue_ids(browser)
    assert "Tôi" in browser.find_element(By.ID, "xrow-" + UY.replace(":", "-")).text

    open_page(browser, base(console_system) + f"/unit-years/{UY}")
    assert "lần 2" in browser.find_element(By.ID, "exemplary").text
    x_decide(browser, "pass", decision_no="20/BC-BCĐ")
    x_state_becomes(browser, "Đã thẩm định điển hình (tỉnh)")
    assert not browser.find_elements(By.ID, "exemplary-holder")  # the decision ended the claim

    sign_in(browser, console_system, "ubnd-qn")
    open_page(browser, base(console_system) + "/queue?track=exemplary")
    assert UY in queue_ids(browser)
    open_page(browser, base(console_system) + f"/unit-years/{UY}")
    x_decide(browser, "pass", decision_no="55/QĐ-UBND", certificate_no="GCN-ĐH-2025-01")
    x_state_becomes(browser, "Đã công nhận điển hình")
    decisions = browser.find_element(By.ID, "exemplary-decisions").text
    assert "55/QĐ-UBND" in decisions and "GCN-ĐH-2025-01" in decisions and "20/BC-BCĐ" in decisions
    assert "Công nhận điển hình" in browser.find_element(By.ID, "timeline").text
    assert browser.find_elements(By.ID, "exemplary-revoke")  # the recognising level may revoke it


def test_the_dashboard_and_the_export_list_the_title(console_system: System, browser: WebDriver) -> None:
    sign_in(browser, console_system, "ubnd-qn")
    open_page(browser, base(console_system) + "/follow?year=2025")
    progress = browser.find_element(By.ID, "by-kind-exemplary")
    assert "Cơ quan" in progress.text
    assert progress.find_element(By.CSS_SELECTOR, "td[data-total='recognized']").text == "1"
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    r = httpx.get(browser.find_element(By.ID, "export-xlsx").get_attribute("href"), cookies=cookies, timeout=20)
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.content))
    by_code = {row[1]: row for row in wb["Danh sách công nhận"].iter_rows(min_row=3, values_only=True)}
    assert by_code[AGENCY.code][12:] == ("Đã công nhận điển hình", "55/QĐ-UBND", "GCN-ĐH-2025-01")
    [title] = list(wb["Điển hình"].iter_rows(min_row=3, values_only=True))
    assert (title[1], title[9], title[11]) == (AGENCY.code, "55/QĐ-UBND", "GCN-ĐH-2025-01")
