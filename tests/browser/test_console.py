"""The administrators' console in a real Chromium, against the running system.

The tests of this module run in order on one seeded system (see ``seed``): a commune officer
works the queue, a second officer meets the first one's claim, the province appraises and
recognises the commune, and the recognised units are exported. Screenshots of the queue and of
a unit-year page go to the test run's temporary folder (its path is printed), and, when
``ANTT_CONSOLE_DOCS_SCREENSHOT`` names a file, the queue's there too (docs/console-queue.png).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import statistics
import time
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from deploy.client import AnttClient
from deploy.driver import Plan, registration_msg, self_assessment_msg, unit_msg
from tests.browser import seed
from tests.e2e.conftest import System

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

TIMINGS: list[float] = []


def base(system: System) -> str:
    return system.url("approval") + "/console"


def wait(driver: WebDriver, timeout: float = 20) -> WebDriverWait:
    # an htmx redirect or swap replaces the page under the condition: an element found may go
    # stale, or be gone for a moment (Chromium then says "Node with given id does not belong to
    # the document", a plain WebDriverException); the condition is simply tried again, and a
    # condition never met still ends in a TimeoutException carrying the last error
    return WebDriverWait(
        driver, timeout, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException, WebDriverException)
    )


def record_timing(driver: WebDriver) -> None:
    """The server's time for the page just loaded (its Server-Timing header)."""
    t = driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "return n && n.serverTiming && n.serverTiming.length ? n.serverTiming[0].duration : null;"
    )
    if t is not None:
        TIMINGS.append(float(t))


def open_page(driver: WebDriver, url: str) -> None:
    driver.get(url)
    wait(driver).until(lambda d: d.execute_script("return document.readyState") == "complete")
    record_timing(driver)


def sign_in(driver: WebDriver, system: System, official_id: str) -> None:
    driver.delete_all_cookies()
    open_page(driver, base(system) + "/login")
    driver.find_element(By.ID, f"signin-{official_id}").click()
    wait(driver).until(
        EC.text_to_be_present_in_element((By.ID, "who-name"), next(o["name"] for o in seed.OFFICIALS if o["id"] == official_id))
    )


# The queue re-renders its table every few seconds (htmx polling): a row found a moment ago
# may be replaced before it is read or clicked. Each of these reads or clicks the row it finds
# in one step, and does it again on a row that went stale (``wait``).


def queue_ids(driver: WebDriver) -> set[str]:
    def read(d: WebDriver) -> set[str]:
        return {r.get_attribute("data-unit-year") for r in d.find_elements(By.CSS_SELECTOR, "#queue tr[data-unit-year]")}

    return wait(driver).until(lambda d: (read(d),))[0]


def row(driver: WebDriver, unit_year_id: str):  # type: ignore[no-untyped-def]
    return driver.find_element(By.ID, "row-" + unit_year_id.replace(":", "-"))


def row_text(driver: WebDriver, unit_year_id: str) -> str:
    return wait(driver).until(lambda d: (row(d, unit_year_id).text,))[0]


def click_in_row(driver: WebDriver, unit_year_id: str, css: str) -> None:
    def click(d: WebDriver) -> bool:
        row(d, unit_year_id).find_element(By.CSS_SELECTOR, css).click()
        return True

    wait(driver).until(click)


def decide(driver: WebDriver, decision: str, *, reasons: str = "", decision_no: str = "", certificate_no: str = "") -> None:
    driver.find_element(By.ID, f"d-{decision}").click()
    if reasons:
        driver.find_element(By.ID, "reasons").send_keys(reasons)
    if decision_no:
        driver.find_element(By.ID, "decision_no").send_keys(decision_no)
    if certificate_no:
        driver.find_element(By.ID, "certificate_no").send_keys(certificate_no)
    driver.find_element(By.ID, "decide-submit").click()


def state_becomes(driver: WebDriver, label: str) -> None:
    wait(driver).until(EC.text_to_be_present_in_element((By.ID, "state"), label))


TA01, TA07 = (p.unit_year_id for p in seed.WAITING)
REASON = "Bổ sung biên bản họp đánh giá của khu dân cư"


def test_a_commune_officer_sees_only_their_commune_claims_and_returns(
    console_system: System, browser: WebDriver, screenshots: Path
) -> None:
    sign_in(browser, console_system, "ca-ta-1")
    assert "/console/queue" in browser.current_url
    assert queue_ids(browser) == {TA01, TA07}  # TB-01 (another commune) and T-XA (province level) are not theirs
    assert seed.OTHER_COMMUNE.unit_year_id not in browser.page_source
    assert "Quá hạn" in row_text(browser, TA01)  # 15 Nov 2025 has passed
    browser.save_screenshot(str(screenshots / f"queue-{console_system.backend}.png"))
    if os.environ.get("ANTT_CONSOLE_DOCS_SCREENSHOT"):
        browser.save_screenshot(os.environ["ANTT_CONSOLE_DOCS_SCREENSHOT"])

    # Tôi xử lý: the claim opens the dossier, with the officer as its holder
    click_in_row(browser, TA07, "button.claim")
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "holder"), "Nguyễn Văn An"))
    open_page(browser, base(console_system) + "/queue")
    assert "Tôi" in row_text(browser, TA07)
    click_in_row(browser, TA01, "button.claim")
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "holder"), "Nguyễn Văn An"))
    record_timing(browser)
    assert "Bản đăng ký phấn đấu" in browser.find_element(By.ID, "h-dossier").find_element(By.XPATH, "..").text
    assert "KDC-1" in browser.page_source and "Diễn biến hồ sơ" in browser.page_source
    browser.save_screenshot(str(screenshots / f"unit-year-{console_system.backend}.png"))

    # a return without saying what to supplement is refused on the form, in Vietnamese
    decide(browser, "return")
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "decide-errors"), "phải ghi rõ nội dung cần bổ sung"))
    assert "Chờ thẩm định" in browser.find_element(By.ID, "state").text

    decide(browser, "return", reasons=REASON)
    state_becomes(browser, "Trả lại bổ sung")
    timeline = browser.find_element(By.ID, "timeline").text
    assert REASON in timeline and "Trả lại để bổ sung" in timeline and "Nhận xử lý" in timeline

    open_page(browser, base(console_system) + "/queue")
    assert queue_ids(browser) == {TA07}


def test_a_second_officer_cannot_decide_a_claimed_item(console_system: System, browser: WebDriver) -> None:
    sign_in(browser, console_system, "ca-ta-2")
    assert "Nguyễn Văn An" in row_text(browser, TA07)
    open_page(browser, base(console_system) + f"/unit-years/{TA07}")
    assert "Hồ sơ đang do Trung úy Nguyễn Văn An xử lý" in browser.page_source
    decide(browser, "pass", decision_no="99/QĐ")
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "decide-errors"), "đang do cán bộ khác xử lý"))
    assert "Trung úy Nguyễn Văn An" in browser.find_element(By.ID, "decide-errors").text
    open_page(browser, base(console_system) + f"/unit-years/{TA07}")
    assert "Chờ thẩm định" in browser.find_element(By.ID, "state").text  # nothing written

    # the JSON API refuses it too, with the reason
    r = console_system.post(
        "approval", f"/unit-years/{TA07}/decisions", {"level": "commune", "decision": "pass", "decided_by": "admin"}
    )
    assert r.status_code == 409 and r.json()["error_code"] == "claimed_by_other" and "Nguyễn Văn An" in r.json()["reason"]


def test_a_state_changing_form_without_the_csrf_token_is_refused(console_system: System, browser: WebDriver) -> None:
    sign_in(browser, console_system, "ca-ta-2")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    assert any(c["name"] == "antt_session" and c["httpOnly"] and c.get("sameSite") == "Lax" for c in browser.get_cookies())
    url = base(console_system) + f"/unit-years/{TA07}/claim"
    r = httpx.post(url, cookies=cookies, timeout=10)
    assert r.status_code == 403
    r = httpx.post(url, cookies=cookies, headers={"x-csrftoken": cookies["antt_csrf"], "HX-Request": "true"}, timeout=10)
    assert r.status_code == 200 and "đang do cán bộ khác xử lý" in r.text  # through, and refused by the rules


def test_a_supervisor_reassigns_a_claimed_item(console_system: System, browser: WebDriver) -> None:
    sign_in(browser, console_system, "sup-ta")
    open_page(browser, base(console_system) + f"/unit-years/{TA07}")
    assert "Nguyễn Văn An" in browser.find_element(By.ID, "holder").text
    Select(browser.find_element(By.NAME, "assign_to")).select_by_value("ca-ta-2")
    browser.find_element(By.NAME, "reason").send_keys("Đồng chí An đi công tác")
    browser.find_element(By.XPATH, "//button[normalize-space()='Phân công lại']").click()
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "holder"), "Lê Thị Bình"))
    assert "Phân công lại" in browser.find_element(By.ID, "timeline").text
    # and back, so that the first officer keeps working it in the tests that follow
    Select(browser.find_element(By.NAME, "assign_to")).select_by_value("ca-ta-1")
    browser.find_element(By.XPATH, "//button[normalize-space()='Phân công lại']").click()
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "holder"), "Nguyễn Văn An"))


def test_the_province_sees_the_roll_up_and_recognises_the_commune(console_system: System, browser: WebDriver) -> None:
    commune = seed.COMMUNE.unit_year_id
    sign_in(browser, console_system, "ca-tinh")
    assert queue_ids(browser) == {commune}  # the province's step; the hamlets wait at commune level
    open_page(browser, base(console_system) + f"/unit-years/{commune}")
    assert "7 (100.0%" in browser.find_element(By.ID, "r-registered").text
    assert "5 (71.4%" in browser.find_element(By.ID, "r-recognized").text
    links = {a.text for a in browser.find_element(By.ID, "rollup").find_elements(By.TAG_NAME, "a")}
    assert {p.name for p in seed.HAMLETS} <= links
    decide(browser, "pass", decision_no="15/BC-CAT")
    state_becomes(browser, "Đã thẩm định (tỉnh)")

    sign_in(browser, console_system, "ubnd-tinh")
    assert commune in queue_ids(browser)
    open_page(browser, base(console_system) + f"/unit-years/{commune}")
    decide(browser, "pass", decision_no="1234/QĐ-UBND", certificate_no="GCN-ANTT-2025-001")
    state_becomes(browser, "Đã công nhận")
    assert "1234/QĐ-UBND" in browser.find_element(By.ID, "timeline").text


def test_the_recognised_units_export_as_excel_and_csv(console_system: System, browser: WebDriver) -> None:
    sign_in(browser, console_system, "ubnd-tinh")
    open_page(browser, base(console_system) + "/follow?year=2025")
    assert "Xã Thử An" in browser.find_element(By.ID, "by-commune").text
    href = browser.find_element(By.ID, "export-xlsx").get_attribute("href")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    r = httpx.get(href, cookies=cookies, timeout=20)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    by_code = {row[1]: row for row in rows}
    assert set(by_code) == {"T-XA", "TA-02", "TA-03", "TA-04", "TA-05", "TA-06"}
    assert by_code["T-XA"][9] == "1234/QĐ-UBND" and by_code["T-XA"][11] == "GCN-ANTT-2025-001"
    assert by_code["TA-02"][11] == "GCN-TA-02"
    csv = httpx.get(browser.find_element(By.ID, "export-csv").get_attribute("href"), cookies=cookies, timeout=20)
    assert csv.status_code == 200 and "GCN-ANTT-2025-001" in csv.content.decode("utf-8-sig")


def test_a_flag_after_recognition_and_its_revocation(console_system: System, browser: WebDriver) -> None:
    """An incident reported after TA-02's recognition raises a flag on the commune's dashboard,
    for the hamlet and (Art. 5.2: the hamlets' criteria 2-4 hold across the commune) for the
    commune too; the hamlet's recognising level revokes with its reasons there, and the
    commune's flag waits for the province, which recognised the commune."""
    flagged = seed.HAMLETS[1]

    async def report() -> None:
        async with AnttClient(console_system.bootstrap) as client:
            n = len(client.events[flagged.unit_year_id])
            await client.send(
                "IncidentReported",
                {
                    "incident_id": "CA-TA-02-2025-01",
                    "unit_code": flagged.code,
                    "occurred_on": "2025-09-20",
                    "reported_on": "2025-12-02",
                    "category": "crime",
                    "severity": "serious",
                    "description": "Trộm cắp tài sản nghiêm trọng, báo cáo muộn",
                    "reported_by": "Công an xã Thử An",
                },
                key=flagged.code,
            )
            await client.wait_event(flagged.unit_year_id, "IncidentFlagged", after=n, timeout=60)

    asyncio.run(report())
    sign_in(browser, console_system, "ubnd-ta")
    open_page(browser, base(console_system) + "/follow")
    flags = browser.find_element(By.ID, "h-flags").find_element(By.XPATH, "..")
    assert "CA-TA-02-2025-01" in flags.text and flagged.name in flags.text

    def row(d: WebDriver, unit_year_id: str) -> list[WebElement]:
        table = d.find_element(By.ID, "h-flags").find_element(By.XPATH, "..")
        return table.find_elements(By.XPATH, f".//tr[.//a[contains(@href, '/unit-years/{unit_year_id}')]]")

    [commune_flag] = row(browser, seed.COMMUNE.unit_year_id)
    assert "CA-TA-02-2025-01" in commune_flag.text and "XA-2" in commune_flag.text
    assert not commune_flag.find_elements(By.CSS_SELECTOR, "button.danger")  # the province recognised the commune
    [hamlet_flag] = row(browser, flagged.unit_year_id)
    hamlet_flag.find_element(By.NAME, "reasons").send_keys("Để xảy ra tội phạm nghiêm trọng trong kỳ đánh giá, báo cáo muộn")
    hamlet_flag.find_element(By.NAME, "decision_no").send_keys("77/QĐ-UBND")
    hamlet_flag.find_element(By.CSS_SELECTOR, "button.danger").click()
    wait(browser).until(lambda d: not row(d, flagged.unit_year_id))
    open_page(browser, base(console_system) + f"/unit-years/{flagged.unit_year_id}")
    assert "Đã thu hồi" in browser.find_element(By.ID, "state").text
    assert "77/QĐ-UBND" in browser.find_element(By.ID, "timeline").text


def test_the_queue_updates_without_a_reload(console_system: System, browser: WebDriver) -> None:
    """A unit-year that arrives while the queue is open appears in it (htmx polling), and the
    page itself is never loaded again."""
    sign_in(browser, console_system, "ca-ta-1")
    assert queue_ids(browser) == {TA07}
    browser.execute_script("window.__same_page = true")
    late = Plan(
        code="TA-08",
        kind="residential_area",
        year=seed.YEAR,
        province_code=seed.PROVINCE,
        commune_code="TA",
        managing_level="commune",
        name="Thôn 8, xã Thử An",
    )

    async def arrive() -> None:
        async with AnttClient(console_system.bootstrap) as client:
            await client.send("UnitRegistrationSubmitted", unit_msg(late), key=late.code)
            await client.send("UnitYearRegistrationSubmitted", registration_msg(late), key=late.code)
            await client.wait_event(late.unit_year_id, "AssessmentOpened", timeout=60)
            await client.send("SelfAssessmentSubmitted", self_assessment_msg(late), key=late.code)
            await client.wait_event(late.unit_year_id, "UnitYearSelfScored", timeout=60)

    asyncio.run(arrive())
    wait(browser, 30).until(lambda d: late.unit_year_id in queue_ids(d))
    assert browser.execute_script("return window.__same_page === true")
    assert browser.find_element(By.ID, "total").text == "2"


def test_page_times(console_system: System) -> None:
    """Not a bound: the server's page times seen above, for the record."""
    assert TIMINGS, "no page time was recorded"
    print(
        f"\nconsole page times on {console_system.backend} (server, ms): n={len(TIMINGS)} "
        f"median={statistics.median(TIMINGS):.1f} max={max(TIMINGS):.1f}"
    )
    TIMINGS.clear()


def test_the_auditors_tool_accepts_the_history_with_its_claims(console_system: System) -> None:
    """The claims are events in the approval topic's hash chains: ``python -m audit verify``
    replays them through the public lifecycle (they change no state) and finds no error."""
    from tests.e2e.test_audit import _checkpoints, _covered, audit

    for name in ("registration", "assessment", "approval"):
        console_system.restart(name)  # a graceful stop signs a checkpoint of all published
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _covered(console_system, _checkpoints(console_system)):
        time.sleep(1)
    res = audit("verify", "--bootstrap", console_system.bootstrap, "--keys", str(console_system.workdir / "keys"), "--json")
    report = json.loads(res.stdout)
    assert res.returncode == 0, [f for f in report["findings"] if f["severity"] == "error"]
    assert report["summary"]["unit_years"] >= len(seed.HAMLETS) + 1
