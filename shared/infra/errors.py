"""The one error type that crosses layers: a refusal with a code and a reason.

Domain modules raise subclasses of :class:`DomainError` (no I/O imports here); the
consumer runtime turns one into a dead letter, the HTTP layer into a 4xx response.
"""

from __future__ import annotations


class DomainError(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
