"""The signed-in official, as the sign-in leaves them in the session.

The session itself (signed, HttpOnly, SameSite=Lax cookie) and the official's shape are
``shared.infra.auth``'s: ``request.session["official"] = {"id", "name", "role", "level",
"jurisdiction"}``, written by the OpenID Connect sign-in in production and by the console's
development sign-in locally. This module adds what the console asks of an official.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from shared.infra import auth

ROLES = auth.ROLES
LEVELS = auth.LEVELS


class Official(auth.Official):
    """``shared.infra.auth.Official`` with the console's questions."""

    @classmethod
    def of(cls, official: auth.Official) -> Official:
        return cls.model_validate(official.session_data())

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


def official_from_session(request: HTTPConnection) -> Official | None:
    """The signed-in official of the request, or ``None``."""
    o = auth.official_from_session(request)
    return None if o is None else Official.of(o)


sign_in = auth.sign_in
sign_out = auth.sign_out
