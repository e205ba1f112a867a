"""Browser fixtures: the whole system (the e2e fixture: real Kafka, the three services as
processes, SQLite), seeded with the browser tests' year, and a real headless Chromium driven by
Selenium through Debian's chromium-driver (``.ci/run`` installs both)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.browser.seed import OFFICIALS, seed
from tests.e2e.conftest import System, _start_system

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def console_system(request: pytest.FixtureRequest) -> Iterator[System]:
    """The system, once per backend, with the console's officials file and secret set for the
    services (the e2e fixture passes its own environment on to the service processes)."""
    pg = request.getfixturevalue("postgres") if request.param == "postgres" else None
    folder = Path(tempfile.mkdtemp(prefix="antt-console-officials-"))
    tokens = folder / "api_tokens.json"
    # the development officials are the named development tokens; the e2e helpers use the admin's
    tokens.write_text(
        json.dumps(
            {
                "dev-admin-token": {"id": "admin@local", "role": "admin", "jurisdiction": "*"},
                **{f"dev-{o['id']}-token": o for o in OFFICIALS},
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    env = {
        "ANTT_APPROVAL_API_TOKENS_FILE": str(tokens),
        "ANTT_APPROVAL_SESSION_SECRET": "browser-test-session-secret-0123456789abcdef",
        "ANTT_CONSOLE_POLL_INTERVAL_S": "1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        for system in _start_system(request.param, pg):
            asyncio.run(seed(system.bootstrap))
            yield system
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("console-screenshots")
    print(f"\nconsole screenshots: {path}")
    return path


def new_browser() -> webdriver.Chrome:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("the browser tests need Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,768", "--lang=vi-VN"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.implicitly_wait(0)
    return driver


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    driver = new_browser()
    try:
        yield driver
    finally:
        driver.quit()
