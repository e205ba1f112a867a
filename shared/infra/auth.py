"""Who the caller is: the signed-in official, sessions, and bearer-token resolution.

An official is a person with a role (``appraise`` — thẩm định, ``decide`` — công nhận,
``follow`` — theo dõi, and ``supervise`` for reassigning claims), a level and a jurisdiction
(``shared.contracts.jurisdiction``). The events they cause carry them as the envelope's
``Actor``; the console keeps them in a signed session cookie; the HTTP API resolves them from
a bearer token, either a development token of ``deploy/config/api_tokens.json`` or a JWT of
the province's OpenID Connect provider.

The console and the APIs use this one module, so a session written by the sign-in is the
session the console reads, and a token accepted by one service is accepted by all three.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse, RedirectResponse
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry, extract_compact
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request

from shared.contracts.envelope import Actor
from shared.contracts.jurisdiction import (
    LEVEL_ORDER,
    is_jurisdiction,
    level_of,
    may_read,
)
from shared.infra.errors import DomainError
from shared.infra.logging import get_logger
from shared.infra.settings import (
    DEV_SESSION_SECRET,
    ClaimMapping,
    OidcSettings,
    ServiceSettings,
)

log = get_logger(__name__)

#: an official's roles: appraise (thẩm định), decide (công nhận), follow (theo dõi), and
#: supervise (reassigns claims within the jurisdiction)
ROLES = ("appraise", "decide", "follow", "supervise")
LEVELS = LEVEL_ORDER

#: the session key the sign-in writes and the console reads
SESSION_KEY = "official"


class Official(BaseModel):
    """A signed-in official. Immutable: a change of role is a new sign-in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=300)
    role: str
    level: str
    jurisdiction: str

    @field_validator("role")
    @classmethod
    def _role(cls, v: str) -> str:
        if v not in ROLES:
            raise ValueError(f"unknown role {v!r}; one of {', '.join(ROLES)}")
        return v

    @field_validator("level")
    @classmethod
    def _level(cls, v: str) -> str:
        if v not in LEVELS:
            raise ValueError(f"unknown level {v!r}; one of {', '.join(LEVELS)}")
        return v

    @field_validator("jurisdiction")
    @classmethod
    def _jurisdiction(cls, v: str) -> str:
        if not is_jurisdiction(v):
            raise ValueError(f"unknown jurisdiction {v!r}; '*', 'ministry', 'province:P', 'district:D' or 'commune:C'")
        return v

    @model_validator(mode="after")
    def _level_fits(self) -> Official:
        # a commune officer with a province's jurisdiction would read and decide far beyond
        # their office: the level is never above what the jurisdiction covers
        kind = self.jurisdiction.partition(":")[0]
        if kind in LEVELS and LEVELS.index(self.level) > LEVELS.index(kind):
            raise ValueError(f"level {self.level!r} is above jurisdiction {self.jurisdiction!r}")
        return self

    def actor(self) -> Actor:
        """The envelope actor of the events this official causes."""
        return Actor(id=self.id, role=self.role, jurisdiction=self.jurisdiction)

    def session_data(self) -> dict[str, str]:
        """What the session stores: exactly ``id``, ``name``, ``role``, ``level``, ``jurisdiction``."""
        return {"id": self.id, "name": self.name, "role": self.role, "level": self.level, "jurisdiction": self.jurisdiction}


class InsecureSessionSecret(RuntimeError):
    """Production was configured with the development session secret (or none)."""


def install_sessions(app: Any, settings: ServiceSettings) -> None:
    """Signed session cookies (Starlette's ``SessionMiddleware``, itsdangerous): HttpOnly,
    SameSite=Lax, ``settings.session_max_age_s``; HTTPS-only in production or when
    ``session_https_only`` is set.

    A production service (``environment=production``) refuses to start with the development
    secret or a short one: anyone who knows the secret can sign themselves in as any official.
    """
    secret = settings.session_secret
    if settings.is_production and (secret == DEV_SESSION_SECRET or len(secret) < 32):
        raise InsecureSessionSecret(
            "environment=production needs its own session_secret (at least 32 characters, "
            "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`); "
            "the development secret is public"
        )
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=settings.session_cookie,
        max_age=settings.session_max_age_s,
        path="/",
        same_site="lax",
        https_only=settings.is_production or settings.session_https_only,
    )


def official_from_session(request: HTTPConnection) -> Official | None:
    """The official signed in on this request's session, or ``None`` (not signed in, no
    session middleware, or a session whose official no longer validates)."""
    if "session" not in request.scope:
        return None
    data = request.session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    try:
        return Official.model_validate(data)
    except ValidationError:
        return None


def sign_in(request: HTTPConnection, official: Official) -> None:
    """Store ``official`` in the session (a fresh session: nothing of an earlier sign-in stays)."""
    request.session.clear()
    request.session[SESSION_KEY] = official.session_data()


def sign_out(request: HTTPConnection) -> None:
    """Forget the signed-in official and everything else in the session."""
    if "session" in request.scope:
        request.session.clear()


def development_officials(settings: ServiceSettings) -> list[Official]:
    """The development officials: the static tokens whose role is an official's role, with a
    ``name`` and a ``level`` (or one derived from the jurisdiction). The development sign-in
    lists them; production has none unless a province configures such tokens."""
    out = []
    for tok in settings.load_api_tokens().values():
        if tok.role not in ROLES:
            continue
        out.append(
            Official(
                id=tok.id,
                name=tok.name or tok.id,
                role=tok.role,
                level=tok.level or level_of(tok.jurisdiction),
                jurisdiction=tok.jurisdiction,
            )
        )
    return out


def require_read(actor: Actor, unit: Mapping[str, Any], what: str) -> None:
    """Refuse (403 ``out_of_jurisdiction``) to show ``what`` of a unit outside the actor's
    jurisdiction (``shared.contracts.jurisdiction.may_read``)."""
    if not may_read(actor.jurisdiction, unit):
        where = ", ".join(
            f"{k.removesuffix('_code')} {unit[k]}" for k in ("province_code", "district_code", "commune_code") if unit.get(k)
        )
        raise DomainError(
            "out_of_jurisdiction",
            f"{what} lies outside your jurisdiction ({actor.jurisdiction}): its unit {unit.get('code', '?')} is in {where or 'no known area'}",
        )


class AuthError(HTTPException):
    """A refused identity: 401 (who you are is not established) or 403 (established, but not
    as an official this system knows), with the ``error_code`` the JSON error carries."""

    def __init__(self, status_code: int, error_code: str, reason: str) -> None:
        headers = (
            {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{_header_safe(reason)}"'}
            if status_code == 401
            else None
        )
        super().__init__(status_code=status_code, detail=reason, headers=headers)
        self.error_code = error_code


def _header_safe(text: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "?" for c in text)[:200]


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` (dotted for nested objects, e.g. ``realm_access.roles``)."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _values(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list | tuple):
        return [v for v in raw if isinstance(v, str)]
    return [str(raw)]


def _mapped(raw: Any, mapping: Mapping[str, str], ours: Callable[[str], bool]) -> str | None:
    for v in _values(raw):
        if v in mapping:
            return mapping[v]
        if ours(v):
            return v
    return None


def official_from_claims(claims: Mapping[str, Any], mapping: ClaimMapping) -> Official:
    """The official a provider's token describes, by the configured claim names and maps.

    A token whose jurisdiction, role or level cannot be mapped is refused (403 with the claim
    and its value in the reason): guessing would let a misconfigured provider grant a wider
    territory than the province meant.
    """
    ident = _claim(claims, mapping.id_claim)
    if not isinstance(ident, str) or not ident:
        raise AuthError(401, "invalid_token", f"the token has no {mapping.id_claim!r} claim naming the official")
    raw_l = _claim(claims, mapping.level_claim)
    claimed_level = None if raw_l is None else _mapped(raw_l, mapping.level_map, lambda v: v in LEVELS)
    if raw_l is not None and claimed_level not in LEVELS:
        raise AuthError(
            403,
            "unknown_level",
            f"the token's level claim {mapping.level_claim!r} ({repr(raw_l)[:100]}) maps to none of {', '.join(LEVELS)}",
        )
    raw_j = _claim(claims, mapping.jurisdiction_claim)
    jurisdiction = _mapped(raw_j, mapping.jurisdiction_map, is_jurisdiction)
    if jurisdiction is None and mapping.jurisdiction_format:
        for v in _values(raw_j):
            candidate = mapping.jurisdiction_format.replace("{value}", v).replace("{level}", claimed_level or "")
            if is_jurisdiction(candidate):
                jurisdiction = candidate
                break
    if jurisdiction is None or not is_jurisdiction(jurisdiction):
        shown = "missing" if raw_j is None else repr(raw_j)[:100]
        raise AuthError(
            403,
            "unknown_jurisdiction",
            f"the token's jurisdiction claim {mapping.jurisdiction_claim!r} ({shown}) maps to no jurisdiction "
            "this system knows ('*', 'ministry', 'province:P', 'district:D', 'commune:C')",
        )
    raw_r = _claim(claims, mapping.role_claim)
    role = _mapped(raw_r, mapping.role_map, lambda v: v in ROLES)
    if role not in ROLES:
        shown = "missing" if raw_r is None else repr(raw_r)[:100]
        raise AuthError(
            403, "unknown_role", f"the token's role claim {mapping.role_claim!r} ({shown}) maps to none of {', '.join(ROLES)}"
        )
    level = claimed_level or level_of(jurisdiction)
    name = _claim(claims, mapping.name_claim) or claims.get("preferred_username") or ident
    try:
        return Official(id=ident[:200], name=str(name)[:300], role=role, level=level, jurisdiction=jurisdiction)
    except ValidationError as exc:
        raise AuthError(
            403, "inconsistent_claims", f"the token's claims do not describe an official: {exc.errors()[0]['msg']}"
        ) from exc


class ProviderUnavailable(AuthError):
    def __init__(self, reason: str) -> None:
        super().__init__(503, "identity_provider_unavailable", reason)


class JwksCache:
    """The provider's signing keys, fetched over HTTP and kept ``jwks_cache_s``.

    A token signed with a key the cache does not hold makes it fetch again at once (the
    provider rotated its keys), but not more often than ``jwks_min_refetch_s``: otherwise a
    stream of tokens with made-up ``kid`` values would become a stream of requests to the
    provider. If a refresh fails while keys are cached, the cached keys go on being used.
    """

    def __init__(self, oidc: OidcSettings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._oidc = oidc
        self._clock = clock
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._jwks_uri = oidc.jwks_uri or None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def _get_json(self, client: httpx.AsyncClient, url: str) -> Any:
        r = await client.get(url, headers={"Accept": "application/json"})
        r.raise_for_status()
        return r.json()

    async def _refresh(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=self._oidc.http_timeout_s) as client:
                if self._jwks_uri is None:
                    meta = await self._get_json(client, discovery_url(self._oidc.issuer))
                    uri = meta.get("jwks_uri") if isinstance(meta, dict) else None
                    if not isinstance(uri, str) or not uri:
                        raise ValueError("the discovery document names no jwks_uri")
                    self._jwks_uri = uri
                data = await self._get_json(client, self._jwks_uri)
            keys = KeySet.import_key_set(data)
        except (httpx.HTTPError, ValueError, TypeError, KeyError, JoseError) as exc:
            log.warning("auth.jwks_fetch_failed", issuer=self._oidc.issuer, error=f"{type(exc).__name__}: {exc}"[:300])
            self._fetched_at = self._clock()  # do not hammer a failing provider either
            if self._keys is None:
                raise ProviderUnavailable("the identity provider's signing keys (JWKS) cannot be fetched; retry shortly") from exc
            return
        self.fetches += 1
        self._keys = keys
        self._fetched_at = self._clock()

    @staticmethod
    def _holds(keys: KeySet | None, kid: str | None) -> bool:
        return keys is not None and (kid is None or any(k.kid == kid for k in keys))

    async def keys(self, kid: str | None) -> KeySet:
        """The key set to verify a token whose header names ``kid``."""
        async with self._lock:
            age = self._clock() - self._fetched_at
            if (
                self._keys is None
                or age >= self._oidc.jwks_cache_s
                or not self._holds(self._keys, kid)
                and age >= self._oidc.jwks_min_refetch_s
            ):
                await self._refresh()
            assert self._keys is not None
            return self._keys


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


class BearerVerifier:
    """Verifies the provider's JWT bearer tokens: signature against its JWKS (only the
    configured asymmetric algorithms), ``iss``, ``aud``, ``exp`` and ``nbf`` (with
    ``leeway_s``), then maps the claims to an official."""

    def __init__(self, oidc: OidcSettings, *, jwks: JwksCache | None = None, now: Callable[[], float] = time.time) -> None:
        if not oidc.enabled:
            raise ValueError("no identity provider configured (oidc.issuer is empty)")
        if not oidc.expected_audience():
            raise ValueError("oidc.audience (or oidc.client_id) must be set: a token for another client must not pass")
        self.oidc = oidc
        self.jwks = jwks or JwksCache(oidc)
        self._now = now
        self._registry = JWSRegistry(algorithms=list(oidc.algorithms))

    async def verify(self, token: str) -> Official:
        try:
            header = extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError, UnicodeError) as exc:
            raise AuthError(
                401, "invalid_token", "the bearer token is neither a development token nor a well-formed JWT"
            ) from exc
        alg = header.get("alg")
        if alg not in self.oidc.algorithms:
            raise AuthError(
                401,
                "invalid_token",
                f"the token's algorithm {str(alg)[:20]!r} is not accepted ({', '.join(self.oidc.algorithms)})",
            )
        kid = header.get("kid")
        keys = await self.jwks.keys(kid if isinstance(kid, str) else None)
        if kid is not None and not JwksCache._holds(keys, kid):
            raise AuthError(
                401,
                "invalid_token",
                f"the token is signed with a key (kid {str(kid)[:64]!r}) the identity provider's JWKS does not hold",
            )
        try:
            decoded = jwt.decode(token, keys, registry=self._registry)
        except BadSignatureError as exc:
            raise AuthError(
                401, "invalid_token", "the token's signature does not verify against the identity provider's keys"
            ) from exc
        except JoseError as exc:
            raise AuthError(
                401, "invalid_token", f"the token cannot be verified: {exc.error}: {exc.description or ''}".strip()
            ) from exc
        claims = decoded.claims
        rules = jwt.JWTClaimsRegistry(
            now=lambda: int(self._now()),
            leeway=self.oidc.leeway_s,
            iss={"essential": True, "value": self.oidc.issuer},
            aud={"essential": True, "value": self.oidc.expected_audience()},
            exp={"essential": True},
        )
        try:
            rules.validate(claims)
        except ExpiredTokenError as exc:
            raise AuthError(401, "token_expired", "the token has expired; sign in again") from exc
        except MissingClaimError as exc:
            raise AuthError(401, "invalid_token", f"the token lacks required claims: {exc.description}") from exc
        except InvalidClaimError as exc:
            which = exc.claim
            reason = {
                "iss": f"the token was issued by {str(claims.get('iss'))[:100]!r}, not the configured provider {self.oidc.issuer!r}",
                "aud": f"the token is meant for {str(claims.get('aud'))[:100]!r}, not for {self.oidc.expected_audience()!r}",
                "nbf": "the token is not valid yet (nbf)",
                "iat": "the token was issued in the future (iat)",
            }.get(which, f"the token's {which!r} claim is invalid")
            raise AuthError(401, "invalid_token", reason) from exc
        except ClaimError as exc:
            raise AuthError(401, "invalid_token", f"the token's claims are invalid: {exc.description}") from exc
        return official_from_claims(claims, self.oidc.claims)


def bearer_verifier(settings: ServiceSettings) -> BearerVerifier | None:
    """The JWT verifier of the configured provider, or ``None`` without one."""
    oidc = settings.identity_provider()
    return BearerVerifier(oidc) if oidc.enabled else None


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and len(token) <= 16 * 1024


#: where the console lives; the sign-in returns there unless a safe ``next`` says otherwise
CONSOLE_HOME = "/console/"


def _safe_next(value: str | None) -> str:
    # only a path of this site: "//evil.example" or "https://..." would make the sign-in an open redirect
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return CONSOLE_HOME


def sign_in_router(settings: ServiceSettings) -> APIRouter | None:
    """The browser sign-in (``/console/auth/login``, ``/callback``, ``/logout``) against the
    configured OpenID Connect provider, or ``None`` when no provider is configured (the
    console then offers only its development sign-in).

    Authorization Code with PKCE (S256), ``state`` and ``nonce``, all through Authlib's
    Starlette client, which keeps them in the session between the redirect and the callback
    and verifies the ID token (signature against the provider's JWKS, ``iss``, ``aud`` = our
    client id, ``exp``, ``nonce``). The claims are mapped as for bearer tokens; the official
    is stored with ``sign_in``. It needs ``install_sessions`` on the application.
    """
    oidc = settings.identity_provider()
    if not oidc.enabled:
        return None
    if not oidc.client_id:
        raise ValueError("oidc.client_id must be set for the browser sign-in")

    from authlib.integrations.starlette_client import OAuth, OAuthError

    scope = oidc.scope if "openid" in oidc.scope.split() else f"openid {oidc.scope}".strip()
    oauth = OAuth()
    oauth.register(
        name="province",
        client_id=oidc.client_id,
        client_secret=oidc.client_secret or None,
        server_metadata_url=discovery_url(oidc.issuer),
        client_kwargs={
            "scope": scope,
            "code_challenge_method": "S256",
            "timeout": oidc.http_timeout_s,
            "token_endpoint_auth_method": "client_secret_post" if oidc.client_secret else "none",
        },
    )
    client = oauth.create_client("province")
    router = APIRouter(prefix="/console/auth", tags=["sign-in"])

    def _refused(status: int, code: str, reason: str) -> JSONResponse:
        return JSONResponse(status_code=status, content={"error_code": code, "reason": reason})

    @router.get("/login", name="console_auth_login")
    async def login(request: Request, next: str | None = None) -> Any:
        redirect_uri = oidc.redirect_uri or str(request.url_for("console_auth_callback"))
        try:
            response = await client.authorize_redirect(request, redirect_uri)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("auth.discovery_failed", issuer=oidc.issuer, error=f"{type(exc).__name__}: {exc}"[:300])
            return _refused(503, "identity_provider_unavailable", "the identity provider cannot be reached; retry shortly")
        request.session["next"] = _safe_next(next)
        return response

    @router.get("/callback", name="console_auth_callback")
    async def callback(request: Request) -> Any:
        try:
            token = await client.authorize_access_token(
                request,
                leeway=oidc.leeway_s,
                # the configured issuer, not only whatever the discovery document says
                claims_options={"iss": {"essential": True, "values": [oidc.issuer]}},
            )
        except OAuthError as exc:
            return _refused(401, exc.error or "sign_in_failed", f"the sign-in failed: {exc.description or exc.error}")
        except JoseError as exc:
            return _refused(401, "invalid_id_token", f"the provider's ID token does not verify: {exc.error}: {exc.description}")
        except httpx.HTTPError as exc:
            return _refused(
                503, "identity_provider_unavailable", f"the identity provider cannot be reached: {type(exc).__name__}"
            )
        claims = token.get("userinfo")
        if not claims:
            return _refused(401, "invalid_id_token", "the provider returned no ID token")
        try:
            official = official_from_claims(dict(claims), oidc.claims)
        except AuthError as exc:
            return _refused(exc.status_code, exc.error_code, str(exc.detail))
        target = _safe_next(request.session.get("next"))
        sign_in(request, official)
        log.info("auth.signed_in", official=official.id, role=official.role, jurisdiction=official.jurisdiction)
        return RedirectResponse(target, status_code=303)

    @router.api_route("/logout", methods=["GET", "POST"], name="console_auth_logout")
    async def logout(request: Request) -> Any:
        sign_out(request)
        return RedirectResponse(CONSOLE_HOME, status_code=303)

    return router


__all__ = [
    "LEVELS",
    "ROLES",
    "SESSION_KEY",
    "AuthError",
    "BearerVerifier",
    "InsecureSessionSecret",
    "JwksCache",
    "Official",
    "bearer_verifier",
    "development_officials",
    "install_sessions",
    "official_from_claims",
    "official_from_session",
    "require_read",
    "sign_in",
    "sign_in_router",
    "sign_out",
]
