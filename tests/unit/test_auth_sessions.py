"""The session interface the console and the sign-in share: ``install_sessions`` and
``official_from_session`` (signed HttpOnly SameSite=Lax cookies, production refuses the
development secret)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import ValidationError

from shared.infra.auth import (
    InsecureSessionSecret,
    Official,
    development_officials,
    install_sessions,
    official_from_session,
    sign_in,
    sign_out,
)
from shared.infra.settings import ServiceSettings

OFFICIAL = Official(id="an@pd", name="Nguyễn Văn An", role="appraise", level="commune", jurisdiction="commune:PD")


def _app(settings: ServiceSettings) -> FastAPI:
    app = FastAPI()
    install_sessions(app, settings)

    @app.post("/in")
    async def _in(request: Request) -> dict[str, str]:
        sign_in(request, OFFICIAL)
        return {"ok": "yes"}

    @app.post("/out")
    async def _out(request: Request) -> dict[str, str]:
        sign_out(request)
        return {"ok": "yes"}

    @app.get("/me")
    async def _me(request: Request) -> dict[str, object]:
        o = official_from_session(request)
        return {"official": None if o is None else o.session_data(), "raw": request.session.get("official")}

    return app


def test_a_signed_in_official_is_read_back_from_the_cookie() -> None:
    client = TestClient(_app(ServiceSettings(service_name="approval")))
    assert client.get("/me").json()["official"] is None
    r = client.post("/in")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    body = client.get("/me").json()
    # exactly the dict the console reads
    assert body["raw"] == {
        "id": "an@pd",
        "name": "Nguyễn Văn An",
        "role": "appraise",
        "level": "commune",
        "jurisdiction": "commune:PD",
    }
    assert body["official"] == body["raw"]
    client.post("/out")
    assert client.get("/me").json()["official"] is None


def test_a_cookie_signed_with_another_secret_is_nobody() -> None:
    a = TestClient(_app(ServiceSettings(service_name="approval", session_secret="a" * 40)))
    a.post("/in")
    cookie = a.cookies.get("antt_session")
    b = TestClient(_app(ServiceSettings(service_name="approval", session_secret="b" * 40)))
    b.cookies.set("antt_session", cookie)
    assert b.get("/me").json()["official"] is None


def test_an_official_that_no_longer_validates_is_nobody() -> None:
    app = _app(ServiceSettings(service_name="approval"))

    @app.post("/forge")
    async def _forge(request: Request) -> dict[str, str]:
        request.session["official"] = {**OFFICIAL.session_data(), "jurisdiction": "planet:earth"}
        return {}

    client = TestClient(app)
    client.post("/forge")
    assert client.get("/me").json()["official"] is None


def test_without_session_middleware_nobody_is_signed_in() -> None:
    app = FastAPI()

    @app.get("/me")
    async def _me(request: Request) -> dict[str, object]:
        return {"official": official_from_session(request)}

    assert TestClient(app).get("/me").json() == {"official": None}


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(InsecureSessionSecret):
        install_sessions(FastAPI(), ServiceSettings(service_name="approval", environment="production"))
    with pytest.raises(InsecureSessionSecret):
        install_sessions(FastAPI(), ServiceSettings(service_name="approval", environment="production", session_secret="short"))
    app = _app(ServiceSettings(service_name="approval", environment="production", session_secret="s" * 48))
    r = TestClient(app, base_url="https://testserver").post("/in")
    assert "secure" in r.headers["set-cookie"].lower()


@pytest.mark.parametrize(
    ("field", "value"),
    [("role", "admin"), ("level", "hamlet"), ("jurisdiction", "province:"), ("jurisdiction", "earth"), ("level", "province")],
)
def test_an_official_is_validated(field: str, value: str) -> None:
    data = OFFICIAL.session_data() | {field: value}
    with pytest.raises(ValueError):
        Official.model_validate(data)


def test_actor_of_an_official() -> None:
    a = OFFICIAL.actor()
    assert (a.id, a.role, a.jurisdiction) == ("an@pd", "appraise", "commune:PD")
    with pytest.raises(ValidationError):
        OFFICIAL.role = "decide"  # type: ignore[misc]


def test_development_officials_come_from_the_token_file() -> None:
    officials = development_officials(ServiceSettings(service_name="approval"))
    by_id = {o.id: o for o in officials}
    assert "admin@local" not in by_id  # not an official's role
    assert by_id["an.nguyen@phu-dinh.local"].jurisdiction == "commune:PD"
    assert {o.role for o in officials} == {"appraise", "decide", "follow", "supervise"}


def test_development_officials_of_an_empty_file(tmp_path: Path) -> None:
    assert development_officials(ServiceSettings(service_name="approval", api_tokens_file=tmp_path / "none.json")) == []
