"""The signed-in official, in the Starlette session (a signed, HttpOnly, SameSite=Lax cookie).

The shape is the one the OIDC sign-in stores as well: ``request.session["official"] =
{"id", "name", "role", "level", "jurisdiction"}``, with ``role`` one of appraise (thẩm định),
decide (công nhận), follow (theo dõi) or supervise (phụ trách, may reassign), ``level``
commune / district / province / ministry and ``jurisdiction`` as in
``shared.contracts.jurisdiction`` (``*``, ``ministry``, ``province:P``, ``district:D``,
``commune:C``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp

from services.approval.console.settings import ConsoleSettings
from shared.contracts.envelope import Actor

SESSION_COOKIE = "antt_console"
ROLES = ("appraise", "decide", "follow", "supervise")
LEVELS = ("commune", "district", "province", "ministry")


@dataclass(frozen=True)
class Official:
    id: str
    name: str
    role: str
    level: str
    jurisdiction: str

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Official:
        o = cls(**{k: str(d[k]) for k in ("id", "name", "role", "level", "jurisdiction")})
        if o.role not in ROLES or o.level not in LEVELS:
            raise ValueError(f"official {o.id}: role must be one of {ROLES} and level one of {LEVELS}")
        return o

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @property
    def actor(self) -> Actor:
        return Actor(id=self.id, role=self.role, jurisdiction=self.jurisdiction)

    @property
    def ref(self) -> dict[str, str]:
        """How events name the official."""
        return {"id": self.id, "name": self.name}

    @property
    def supervisor(self) -> bool:
        return self.role == "supervise"

    def may_take(self, step_role: str | None) -> bool:
        """Appraisers take review steps (thẩm định), the chairman's office the decide step
        (công nhận); a supervisor both; a follower none."""
        if self.role == "supervise":
            return True
        return (self.role, step_role) in (("appraise", "review"), ("decide", "decide"))


def install_session(app: ASGIApp, settings: ConsoleSettings, *, path: str) -> ASGIApp:
    return SessionMiddleware(
        app,
        secret_key=settings.signing_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        path=path,
        same_site="lax",
        https_only=settings.https_only,
    )


def official_from_session(request: Request) -> dict[str, str] | None:
    """The signed-in official as stored in the session, or ``None``."""
    data = request.session.get("official")
    if not isinstance(data, dict):
        return None
    try:
        return Official.from_dict(data).as_dict()
    except (KeyError, ValueError):
        return None


def sign_in(request: Request, official: Official) -> None:
    request.session.clear()
    request.session["official"] = official.as_dict()


def sign_out(request: Request) -> None:
    request.session.clear()
