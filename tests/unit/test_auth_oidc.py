"""Browser sign-in with OpenID Connect: the Authorization Code flow with PKCE (S256), state and
nonce against a small provider served over real HTTP, ending with the official in the session
exactly as the console reads it."""

import base64
import hashlib
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request

from shared.infra.auth import install_sessions, official_from_session, sign_in_router
from shared.infra.http import install_error_handlers
from shared.infra.settings import ClaimMapping, OidcSettings, ServiceSettings
from tests.unit.auth_provider import CLIENT_ID, CLIENT_SECRET, TestProvider


@pytest.fixture(scope="module")
def provider() -> Iterator[TestProvider]:
    p = TestProvider().start()
    try:
        yield p
    finally:
        p.stop()


def settings_for(provider: TestProvider, **claims: Any) -> ServiceSettings:
    return ServiceSettings(
        service_name="approval",
        oidc=OidcSettings(
            issuer=provider.issuer,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            claims=ClaimMapping(jurisdiction_map={"CAX-PD": "commune:PD"}, **claims),
        ),
    )


def console_app(settings: ServiceSettings) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    install_sessions(app, settings)
    router = sign_in_router(settings)
    assert router is not None
    app.include_router(router)

    @app.get("/console/")
    async def home(request: Request) -> dict[str, Any]:
        o = official_from_session(request)
        return {"official": None if o is None else o.session_data(), "session": dict(request.session)}

    return app


@pytest.fixture
async def browser(provider: TestProvider) -> AsyncIterator[httpx.AsyncClient]:
    provider.login_claims = {}
    transport = httpx.ASGITransport(app=console_app(settings_for(provider)))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def go_to_provider(browser: httpx.AsyncClient, path: str = "/console/auth/login") -> httpx.Response:
    """The browser follows the console's redirect to the provider's /authorize (real HTTP)."""
    r = await browser.get(path)
    assert r.status_code == 302, r.text
    async with httpx.AsyncClient() as internet:
        return await internet.get(r.headers["location"])


async def test_sign_in_runs_the_code_flow_with_pkce_and_stores_the_official(
    browser: httpx.AsyncClient, provider: TestProvider
) -> None:
    provider.login_claims = {"sub": "an.nguyen", "name": "Nguyễn Văn An", "antt_role": "appraise", "antt_jurisdiction": "CAX-PD"}
    at_provider = await go_to_provider(browser, "/console/auth/login?next=/console/queue")
    asked = provider.authorize_requests[-1]
    assert asked["response_type"] == "code" and asked["client_id"] == CLIENT_ID
    assert "openid" in asked["scope"].split()
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) >= 43
    assert asked["state"] and asked["nonce"]
    assert asked["redirect_uri"] == "http://testserver/console/auth/callback"

    # the provider sends the browser back with the code and the same state
    assert at_provider.status_code == 302
    back = at_provider.headers["location"]
    assert back.startswith("http://testserver/console/auth/callback?")
    assert parse_qs(urlsplit(back).query)["state"] == [asked["state"]]
    r = await browser.get(back)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/queue"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie

    # the token request carried the verifier whose S256 is the challenge
    sent = provider.token_requests[-1]
    digest = base64.urlsafe_b64encode(hashlib.sha256(sent["code_verifier"].encode()).digest()).rstrip(b"=").decode()
    assert digest == asked["code_challenge"]

    home = (await browser.get("/console/")).json()
    assert home["official"] == {
        "id": "an.nguyen",
        "name": "Nguyễn Văn An",
        "role": "appraise",
        "level": "commune",
        "jurisdiction": "commune:PD",
    }
    # exactly this dict, and nothing of the flow (state, verifier, nonce) is left behind
    assert home["session"] == {"official": home["official"]}

    r = await browser.get("/console/auth/logout")
    assert r.status_code == 303 and r.headers["location"] == "/console/"
    assert (await browser.get("/console/")).json()["official"] is None


async def test_a_callback_with_another_state_is_refused(browser: httpx.AsyncClient, provider: TestProvider) -> None:
    at_provider = await go_to_provider(browser)
    back = at_provider.headers["location"]
    code = parse_qs(urlsplit(back).query)["code"][0]
    r = await browser.get(f"/console/auth/callback?code={code}&state=forged-state")
    assert r.status_code == 401 and r.json()["error_code"] == "mismatching_state", r.text
    assert (await browser.get("/console/")).json()["official"] is None


async def test_a_callback_in_another_browser_is_refused(browser: httpx.AsyncClient, provider: TestProvider) -> None:
    at_provider = await go_to_provider(browser)
    transport = httpx.ASGITransport(app=console_app(settings_for(provider)))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        r = await other.get(at_provider.headers["location"])
    assert r.status_code == 401 and r.json()["reason"].startswith("the sign-in failed")


async def test_an_id_token_with_a_wrong_nonce_is_refused(browser: httpx.AsyncClient, provider: TestProvider) -> None:
    provider.login_claims = {"nonce": "replayed-nonce"}
    at_provider = await go_to_provider(browser)
    r = await browser.get(at_provider.headers["location"])
    assert r.status_code == 401 and "nonce" in r.text.lower(), r.text
    assert (await browser.get("/console/")).json()["official"] is None


async def test_an_id_token_for_another_client_is_refused(browser: httpx.AsyncClient, provider: TestProvider) -> None:
    provider.login_claims = {"aud": "another-client"}
    at_provider = await go_to_provider(browser)
    r = await browser.get(at_provider.headers["location"])
    assert r.status_code == 401, r.text
    assert (await browser.get("/console/")).json()["official"] is None


async def test_an_unmappable_jurisdiction_does_not_sign_in(browser: httpx.AsyncClient, provider: TestProvider) -> None:
    provider.login_claims = {"antt_jurisdiction": "CAX-UNKNOWN"}
    at_provider = await go_to_provider(browser)
    r = await browser.get(at_provider.headers["location"])
    assert r.status_code == 403 and r.json()["error_code"] == "unknown_jurisdiction"
    assert "CAX-UNKNOWN" in r.json()["reason"]
    assert (await browser.get("/console/")).json()["official"] is None


async def test_the_provider_refusing_is_a_reason(browser: httpx.AsyncClient) -> None:
    r = await browser.get("/console/auth/callback?error=access_denied&error_description=user+cancelled&state=x")
    assert r.status_code == 401 and r.json() == {"error_code": "access_denied", "reason": "the sign-in failed: user cancelled"}


async def test_next_never_leaves_the_site(browser: httpx.AsyncClient, provider: TestProvider) -> None:
    at_provider = await go_to_provider(browser, "/console/auth/login?next=//evil.example/x")
    r = await browser.get(at_provider.headers["location"])
    assert r.status_code == 303 and r.headers["location"] == "/console/"


def test_without_an_issuer_there_is_no_sign_in_router() -> None:
    assert sign_in_router(ServiceSettings(service_name="approval")) is None
