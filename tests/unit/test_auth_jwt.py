"""JWT bearer tokens of the province's identity provider: verified against the JWKS it serves
over real HTTP (signature, ``iss``, ``aud``, ``exp``/``nbf``), claims mapped by configuration,
and every refusal a JSON reason."""

import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from joserfc import jwt

from shared.contracts.envelope import Actor
from shared.infra.auth import (
    BearerVerifier,
    JwksCache,
    bearer_verifier,
    official_from_claims,
)
from shared.infra.http import actor_dependency, install_error_handlers
from shared.infra.settings import ApiToken, ClaimMapping, OidcSettings, ServiceSettings
from tests.unit.auth_provider import AUDIENCE, TestProvider

DEV_TOKENS = {"dev-admin-token": ApiToken(id="admin@local", role="admin", jurisdiction="*")}


@pytest.fixture(scope="module")
def provider() -> Iterator[TestProvider]:
    p = TestProvider().start()
    try:
        yield p
    finally:
        p.stop()


def oidc_of(provider: TestProvider, **extra: Any) -> OidcSettings:
    return OidcSettings(issuer=provider.issuer, audience=AUDIENCE, jwks_min_refetch_s=0.0, **extra)


def app_with(verifier: BearerVerifier | None) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    dep = actor_dependency(DEV_TOKENS, verifier)

    @app.get("/whoami")
    async def whoami(request: Request, actor: Annotated[Actor, Depends(dep)]) -> dict[str, Any]:
        official = getattr(request.state, "official", None)
        return {"actor": actor.model_dump(), "official": None if official is None else official.session_data()}

    return app


@pytest.fixture
async def client(provider: TestProvider) -> AsyncIterator[tuple[httpx.AsyncClient, BearerVerifier]]:
    verifier = BearerVerifier(oidc_of(provider))
    transport = httpx.ASGITransport(app=app_with(verifier))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c, verifier


async def call(c: httpx.AsyncClient, token: str) -> httpx.Response:
    return await c.get("/whoami", headers={"Authorization": f"Bearer {token}"})


async def test_a_valid_token_is_the_official_it_names(client: Any, provider: TestProvider) -> None:
    c, verifier = client
    r = await call(c, provider.token())
    assert r.status_code == 200, r.text
    assert r.json()["actor"] == {"id": "officer-51@quang-ngai", "role": "decide", "jurisdiction": "province:51"}
    assert r.json()["official"] == {
        "id": "officer-51@quang-ngai",
        "name": "Võ Thị Hoa",
        "role": "decide",
        "level": "province",
        "jurisdiction": "province:51",
    }
    # the keys are cached: a second token needs no second fetch
    assert (await call(c, provider.token(sub="other@quang-ngai"))).status_code == 200
    assert verifier.jwks.fetches == 1


async def test_an_expired_token_is_refused(client: Any, provider: TestProvider) -> None:
    c, _ = client
    now = int(time.time())
    r = await call(c, provider.token(iat=now - 7200, nbf=now - 7200, exp=now - 3600))
    assert r.status_code == 401
    assert r.json() == {"error_code": "token_expired", "reason": "the token has expired; sign in again"}
    assert r.headers["www-authenticate"].startswith("Bearer")
    # within the leeway (60 s) it is still accepted
    assert (await call(c, provider.token(exp=now - 10))).status_code == 200


async def test_a_token_for_another_audience_is_refused(client: Any, provider: TestProvider) -> None:
    c, _ = client
    r = await call(c, provider.token(aud="some-other-app"))
    assert r.status_code == 401 and r.json()["error_code"] == "invalid_token"
    assert "some-other-app" in r.json()["reason"] and AUDIENCE in r.json()["reason"]
    r = await call(c, provider.token(aud=None))
    assert r.status_code == 401 and "aud" in r.json()["reason"]


async def test_a_token_of_another_issuer_is_refused(client: Any, provider: TestProvider) -> None:
    c, _ = client
    r = await call(c, provider.token(iss="https://idp.elsewhere.example"))
    assert r.status_code == 401 and r.json()["error_code"] == "invalid_token"
    assert "idp.elsewhere.example" in r.json()["reason"] and "not the configured provider" in r.json()["reason"]


async def test_a_token_not_valid_yet_is_refused(client: Any, provider: TestProvider) -> None:
    c, _ = client
    r = await call(c, provider.token(nbf=int(time.time()) + 3600))
    assert r.status_code == 401 and "not valid yet" in r.json()["reason"]


async def test_a_wrong_signature_is_refused(client: Any, provider: TestProvider) -> None:
    c, _ = client
    # signed with a key the provider never published, under the kid of its real key
    forged = jwt.encode({"alg": "RS256", "kid": provider.key.kid}, provider.claims(), provider.foreign)
    r = await call(c, forged)
    assert r.status_code == 401 and r.json()["error_code"] == "invalid_token"
    assert "signature does not verify" in r.json()["reason"]
    # a valid token whose payload was altered
    head, _payload, sig = provider.token().split(".")
    _h, payload2, _s = provider.token(antt_jurisdiction="*").split(".")
    r = await call(c, f"{head}.{payload2}.{sig}")
    assert r.status_code == 401 and "signature" in r.json()["reason"]


async def test_an_unknown_key_is_refetched_once_then_refused(client: Any, provider: TestProvider) -> None:
    c, _ = client
    assert (await call(c, provider.token())).status_code == 200
    before = provider.jwks_hits
    r = await call(c, provider.token(key=provider.foreign))
    assert r.status_code == 401 and r.json()["error_code"] == "invalid_token"
    assert "k-foreign" in r.json()["reason"] and "JWKS does not hold" in r.json()["reason"]
    assert provider.jwks_hits == before + 1  # it looked again (rotation) before refusing


async def test_a_rotated_key_is_fetched_when_a_token_names_it(client: Any, provider: TestProvider) -> None:
    c, verifier = client
    assert (await call(c, provider.token())).status_code == 200
    new = provider.rotate("k-rotated")
    r = await call(c, provider.token(key=new))
    assert r.status_code == 200, r.text
    assert verifier.jwks.fetches == 2


async def test_unknown_kids_do_not_flood_the_provider(provider: TestProvider) -> None:
    verifier = BearerVerifier(oidc_of(provider).model_copy(update={"jwks_min_refetch_s": 3600.0}))
    app = app_with(verifier)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await call(c, provider.token())).status_code == 200
        for i in range(5):
            forged = jwt.encode({"alg": "RS256", "kid": f"made-up-{i}"}, provider.claims(), provider.foreign)
            assert (await call(c, forged)).status_code == 401
    assert verifier.jwks.fetches == 1


async def test_symmetric_or_unsigned_tokens_are_refused(client: Any, provider: TestProvider) -> None:
    c, _ = client
    from joserfc.jwk import OctKey

    hs = jwt.encode({"alg": "HS256"}, provider.claims(), OctKey.import_key("x" * 32))
    r = await call(c, hs)
    assert r.status_code == 401 and "HS256" in r.json()["reason"]
    head = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
    _h, payload, _s = provider.token().split(".")
    r = await call(c, f"{head}.{payload}.")
    assert r.status_code == 401 and r.json()["error_code"] == "invalid_token"
    r = await call(c, "not.a.jwt")
    assert r.status_code == 401 and "well-formed JWT" in r.json()["reason"]


@pytest.mark.parametrize("value", ["planet:mars", "province:", "tinh-quang-ngai", None, 51])
async def test_an_unknown_jurisdiction_claim_is_refused(client: Any, provider: TestProvider, value: Any) -> None:
    c, _ = client
    r = await call(c, provider.token(antt_jurisdiction=value))
    assert r.status_code == 403, r.text
    assert r.json()["error_code"] == "unknown_jurisdiction"
    assert "antt_jurisdiction" in r.json()["reason"]


async def test_an_unknown_role_claim_is_refused(client: Any, provider: TestProvider) -> None:
    c, _ = client
    r = await call(c, provider.token(antt_role="admin"))
    assert r.status_code == 403 and r.json()["error_code"] == "unknown_role"


async def test_development_tokens_still_work_beside_the_provider(client: Any) -> None:
    c, _ = client
    r = await call(c, "dev-admin-token")
    assert r.status_code == 200 and r.json()["actor"] == {"id": "admin@local", "role": "admin", "jurisdiction": "*"}
    r = await call(c, "no-such-token")
    assert r.status_code == 401 and r.json() == {"error_code": "unauthorized", "reason": "unknown bearer token"}
    r = await c.get("/whoami")
    assert r.status_code == 401 and r.json()["reason"] == "missing bearer token"


async def test_without_a_provider_a_jwt_is_an_unknown_token(provider: TestProvider) -> None:
    assert bearer_verifier(ServiceSettings(service_name="approval")) is None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_with(None)), base_url="http://t") as c:
        r = await call(c, provider.token())
    assert r.status_code == 401 and r.json()["reason"] == "unknown bearer token"


async def test_an_unreachable_provider_is_a_503(provider: TestProvider) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    verifier = BearerVerifier(OidcSettings(issuer=f"http://127.0.0.1:{closed}", audience=AUDIENCE, http_timeout_s=1.0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_with(verifier)), base_url="http://t") as c:
        r = await call(c, provider.token())
    assert r.status_code == 503 and r.json()["error_code"] == "identity_provider_unavailable"


async def test_the_configured_jwks_uri_is_used_without_discovery(provider: TestProvider) -> None:
    verifier = BearerVerifier(oidc_of(provider, jwks_uri=f"{provider.issuer}/jwks"))
    official = await verifier.verify(provider.token())
    assert official.jurisdiction == "province:51"


def test_claims_are_mapped_by_configuration() -> None:
    mapping = ClaimMapping(
        id_claim="preferred_username",
        name_claim="full_name",
        role_claim="realm_access.roles",
        level_claim="org.cap",
        jurisdiction_claim="org.ma_don_vi",
        role_map={"can-bo-tham-dinh": "appraise", "lanh-dao": "decide"},
        level_map={"xa": "commune", "tinh": "province"},
        jurisdiction_map={"CAX-PD": "commune:PD", "UBND-QNG": "province:51"},
    )
    claims = {
        "sub": "a1b2",
        "preferred_username": "an.nguyen",
        "full_name": "Nguyễn Văn An",
        "realm_access": {"roles": ["offline_access", "can-bo-tham-dinh"]},
        "org": {"cap": "xa", "ma_don_vi": "CAX-PD"},
    }
    o = official_from_claims(claims, mapping)
    assert o.session_data() == {
        "id": "an.nguyen",
        "name": "Nguyễn Văn An",
        "role": "appraise",
        "level": "commune",
        "jurisdiction": "commune:PD",
    }
    # a level above the jurisdiction is refused, not trusted
    with pytest.raises(Exception) as err:
        official_from_claims({**claims, "org": {"cap": "tinh", "ma_don_vi": "CAX-PD"}}, mapping)
    assert getattr(err.value, "error_code", None) == "inconsistent_claims"
    # an unmapped organisation is unknown, even if it looks like one of ours after mapping fails
    with pytest.raises(Exception) as err:
        official_from_claims({**claims, "org": {"cap": "xa", "ma_don_vi": "CAX-XX"}}, mapping)
    assert getattr(err.value, "error_code", None) == "unknown_jurisdiction"


def test_an_audience_is_required() -> None:
    with pytest.raises(ValueError, match="audience"):
        BearerVerifier(OidcSettings(issuer="http://idp"))


async def test_the_jwks_cache_expires(provider: TestProvider) -> None:
    now = [0.0]
    cache = JwksCache(oidc_of(provider, jwks_cache_s=60.0), clock=lambda: now[0])
    await cache.keys("k1")
    await cache.keys("k1")
    assert cache.fetches == 1
    now[0] = 61.0
    await cache.keys("k1")
    assert cache.fetches == 2


def test_a_jurisdiction_can_be_built_from_the_level_and_a_code() -> None:
    mapping = ClaimMapping(
        level_claim="cap", jurisdiction_claim="ma_don_vi", level_map={"xa": "commune"}, jurisdiction_format="{level}:{value}"
    )
    o = official_from_claims({"sub": "x", "antt_role": "appraise", "cap": "xa", "ma_don_vi": "22117"}, mapping)
    assert (o.level, o.jurisdiction) == ("commune", "commune:22117")
    with pytest.raises(Exception) as err:  # no level to build with: "':22117'" is no jurisdiction
        official_from_claims({"sub": "x", "antt_role": "appraise", "ma_don_vi": "22117"}, mapping)
    assert getattr(err.value, "error_code", None) == "unknown_jurisdiction"
    with pytest.raises(Exception) as err:
        official_from_claims({"sub": "x", "antt_role": "appraise", "cap": "thon", "ma_don_vi": "22117"}, mapping)
    assert getattr(err.value, "error_code", None) == "unknown_level"


def test_the_provider_is_configured_by_environment_or_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from services.approval.settings import ApprovalSettings
    from services.registration.settings import RegistrationSettings

    monkeypatch.setenv("ANTT_APPROVAL_OIDC__ISSUER", "https://id.quangngai.gov.vn/realms/cb")
    monkeypatch.setenv("ANTT_APPROVAL_OIDC__CLIENT_ID", "antt-console")
    monkeypatch.setenv("ANTT_APPROVAL_OIDC__CLAIMS__JURISDICTION_MAP", '{"UBND-QNG": "province:51"}')
    oidc = ApprovalSettings().identity_provider()
    assert oidc.enabled and oidc.expected_audience() == "antt-console"
    assert oidc.claims.jurisdiction_map == {"UBND-QNG": "province:51"}

    f = tmp_path / "oidc.json"
    f.write_text(
        json.dumps({"issuer": "https://id.example/r", "audience": "antt-api", "claims": {"role_claim": "roles"}}),
        encoding="utf-8",
    )
    oidc = RegistrationSettings(oidc_file=f).identity_provider()
    assert (oidc.issuer, oidc.expected_audience(), oidc.claims.role_claim) == ("https://id.example/r", "antt-api", "roles")
    with pytest.raises(FileNotFoundError):
        RegistrationSettings(oidc_file=tmp_path / "missing.json").identity_provider()


def test_the_example_configuration_is_valid() -> None:
    from pathlib import Path

    from shared.infra.settings import ROOT

    oidc = ServiceSettings(oidc_file=Path(ROOT / "deploy" / "config" / "oidc.example.json")).identity_provider()
    o = official_from_claims(
        {
            "preferred_username": "an.nguyen",
            "realm_access": {"roles": ["antt-tham-dinh"]},
            "cap_hanh_chinh": "xa",
            "ma_don_vi": "22117",
        },
        oidc.claims,
    )
    assert (o.role, o.level, o.jurisdiction) == ("appraise", "commune", "commune:22117")
