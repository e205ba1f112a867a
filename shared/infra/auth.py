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

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection

from shared.contracts.envelope import Actor
from shared.contracts.jurisdiction import LEVEL_ORDER, is_jurisdiction
from shared.infra.settings import DEV_SESSION_SECRET, ServiceSettings

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
    from shared.contracts.jurisdiction import level_of

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


__all__ = [
    "LEVELS",
    "ROLES",
    "SESSION_KEY",
    "InsecureSessionSecret",
    "Official",
    "development_officials",
    "install_sessions",
    "official_from_session",
    "sign_in",
    "sign_out",
]
