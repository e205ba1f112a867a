"""Safe retries of HTTP writes: ``Idempotency-Key`` and ``If-Match``.

A client that sends a write and loses the answer (a timeout, a dropped connection) cannot tell
whether it was applied. Sent again, a decision would act on the *next* step of the chain: from
``self_scored`` a residential area's commune review, sent twice, became its recognition. Two
headers make the retry safe:

- ``Idempotency-Key: <opaque, 1-200 printable ASCII characters>``: the first answer to a
  successful write is stored with the key, in the write's own transaction, in the service's
  database (``idempotency_keys``). A request with the same key, the same method, path and body
  gets that answer again (header ``Idempotent-Replayed: true``) and changes nothing; the same
  key with another request is refused (422 ``idempotency_key_reused``). Keys belong to the
  caller (the bearer token's actor): two callers never see each other's answers. A refused
  request stores nothing (it changed nothing), so sending it again evaluates it again. Answers
  are kept ``idempotency_key_ttl_s`` (default 7 days), then forgotten.
- ``If-Match: "<version>"``: the write applies only if the resource is still at that version
  (the ``ETag`` of ``GET``), else 412 ``precondition_failed``; ``*`` matches any version.

This follows the IETF draft "The Idempotency-Key HTTP Header Field" and RFC 9110 section 13.1.1.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from fastapi import Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.contracts.envelope import utcnow
from shared.infra.errors import DomainError
from shared.infra.tables import InfraTables
from shared.infra.uow import UnitOfWork

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_ETAG = re.compile(r'\s*(W/)?"([^"]*)"\s*')


class PreconditionFailedError(DomainError):
    """``If-Match`` names no version the resource is at (HTTP 412)."""


def etag(version: int) -> str:
    """The strong entity tag of a resource at ``version``."""
    return f'"{version}"'


@dataclass(frozen=True, slots=True)
class IfMatch:
    """The versions an ``If-Match`` header accepts (``any_version`` for ``*``)."""

    versions: frozenset[int]
    any_version: bool = False
    header: str = ""

    def check(self, version: int, what: str) -> None:
        if self.any_version or version in self.versions:
            return
        raise PreconditionFailedError(
            "precondition_failed",
            f"If-Match {self.header} does not match {what}, now at version {version} (ETag {etag(version)}): "
            "it changed since it was read; nothing was written, read it again",
        )


def parse_if_match(header: str | None) -> IfMatch | None:
    """``If-Match`` as versions; ``None`` when absent. A weak tag never matches (RFC 9110 uses
    the strong comparison for ``If-Match``); a tag that is not a version matches nothing."""
    if header is None:
        return None
    text = header.strip()
    if text == "*":
        return IfMatch(frozenset(), any_version=True, header=text)
    versions: set[int] = set()
    for part in text.split(","):
        m = _ETAG.fullmatch(part)
        if m is None:
            raise DomainError(
                "bad_request", f'If-Match must be * or a list of quoted entity tags such as "3", not {text[:100]!r}'
            )
        if m.group(1) is None and m.group(2).isdigit() and len(m.group(2)) <= 18:
            versions.add(int(m.group(2)))
    return IfMatch(frozenset(versions), header=text[:100])


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """A write sent with an ``Idempotency-Key``: whose, which key, and what was asked."""

    actor_id: str
    key: str
    method: str
    path: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]
    replayed: bool = False

    def response(self) -> JSONResponse:
        headers = dict(self.headers)
        if self.replayed:
            headers[REPLAYED_HEADER] = "true"
        return JSONResponse(status_code=self.status, content=self.body, headers=headers)


def idempotent_request(request: Request, actor_id: str, body: Any) -> IdempotentRequest | None:
    """The request's ``Idempotency-Key`` (``None`` without one); ``body`` is the parsed body, so
    that a retry that only differs in spacing or key order is the same request."""
    key = request.headers.get(KEY_HEADER)
    if key is None:
        return None
    if not _KEY.fullmatch(key):
        raise DomainError(
            "invalid_idempotency_key",
            f"{KEY_HEADER} must be 1 to 200 printable ASCII characters without spaces (a UUID is a good choice)",
        )
    method, path = request.method.upper(), request.url.path
    digest = hashlib.sha256(orjson.dumps({"method": method, "path": path, "body": body}, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return IdempotentRequest(actor_id=actor_id, key=key, method=method, path=path, fingerprint=digest)


def stored_answer(session: Session, infra: InfraTables, req: IdempotentRequest) -> Answer | None:
    """The answer stored for ``req``'s key, or ``None``; the key used for another request is
    refused (``idempotency_key_reused``)."""
    t = infra.idempotency_keys
    row = session.execute(
        select(t.c.fingerprint, t.c.method, t.c.path, t.c.status, t.c.body, t.c.created_at).where(
            t.c.actor_id == req.actor_id, t.c.key == req.key
        )
    ).first()
    if row is None:
        return None
    if row.fingerprint != req.fingerprint:
        same = (
            "the same method and path with another body"
            if (row.method, row.path) == (req.method, req.path)
            else f"{row.method} {row.path}"
        )
        raise DomainError(
            "idempotency_key_reused",
            f"{KEY_HEADER} {req.key!r} was first used at {row.created_at} for a different request ({same}); "
            "a key stands for one request: use a new key for a new request",
        )
    stored = orjson.loads(row.body)
    return Answer(status=row.status, body=stored["body"], headers=stored.get("headers", {}), replayed=True)


def reserve_key(uow: UnitOfWork, req: IdempotentRequest) -> None:
    """Insert the key's row now, before the write: a concurrent request with the same key then
    waits on it (PostgreSQL's unique index) and fails with ``IntegrityError`` once this one
    commits, instead of racing it on the unit-year (a 409 for a request that was a retry)."""
    uow.session.execute(
        insert(uow.infra.idempotency_keys).values(
            actor_id=req.actor_id,
            key=req.key,
            fingerprint=req.fingerprint,
            method=req.method,
            path=req.path,
            status=0,
            body=b"{}",
            created_at=utcnow(),
        )
    )


def store_answer(uow: UnitOfWork, req: IdempotentRequest, answer: Answer) -> None:
    """Keep ``answer`` with the reserved key, in the write's transaction."""
    t = uow.infra.idempotency_keys
    uow.session.execute(
        update(t)
        .where(t.c.actor_id == req.actor_id, t.c.key == req.key)
        .values(status=answer.status, body=orjson.dumps({"body": answer.body, "headers": answer.headers}))
    )


async def run_write(runtime: Any, req: IdempotentRequest | None, write: Callable[[UnitOfWork], Answer]) -> JSONResponse:
    """Run ``write`` in one unit of work of ``runtime``; with a key, answer a retry from the
    stored answer and store a first answer in the same transaction.

    The stored answer is looked up inside the transaction (SQLite's ``BEGIN IMMEDIATE``
    serialises writers); two requests with one key racing on PostgreSQL both miss it, and the
    second one's insert of the key (:func:`reserve_key`, before the write) waits for the first
    and fails once it commits: it then answers with the first one's answer. If the first is
    refused, its reservation is rolled back and the second is judged on its own."""
    if req is None:
        first: Answer = await runtime.transaction(write)
        return first.response()

    def tx(uow: UnitOfWork) -> Answer:
        found = stored_answer(uow.session, uow.infra, req)
        if found is not None:
            return found
        reserve_key(uow, req)
        answer = write(uow)
        store_answer(uow, req, answer)
        _purge_now_and_then(runtime, uow)
        return answer

    answer: Answer
    try:
        answer = await runtime.transaction(tx)
    except IntegrityError:
        found = await runtime.read(lambda s: stored_answer(s, runtime.infra, req))
        if found is None:
            raise
        answer = found
    return answer.response()


#: how often (seconds, per runtime) a write with a key also forgets the expired answers
PURGE_EVERY_S = 600.0


def _purge_now_and_then(runtime: Any, uow: UnitOfWork) -> None:
    """Forget the answers older than ``idempotency_key_ttl_s`` at most every ``PURGE_EVERY_S``,
    in a write's transaction (an indexed delete), so that the table stays bounded without a
    task of its own."""
    now = time.monotonic()
    last = getattr(runtime, "_idempotency_purged_at", None)
    if last is not None and now - last < PURGE_EVERY_S:
        return
    runtime._idempotency_purged_at = now
    ttl = float(getattr(runtime.settings, "idempotency_key_ttl_s", 7 * 24 * 3600.0))
    purge_expired(uow.session, uow.infra, utcnow() - timedelta(seconds=ttl))


def purge_expired(session: Session, infra: InfraTables, older_than: Any) -> int:
    """Forget the answers stored before ``older_than`` (a key is kept for a bounded time)."""
    res = session.execute(delete(infra.idempotency_keys).where(infra.idempotency_keys.c.created_at < older_than))
    return int(res.rowcount or 0)  # type: ignore[attr-defined]


#: the ``Idempotency-Key`` request header of an HTTP write, for its OpenAPI documentation
IDEMPOTENCY_KEY_HEADER: Any = Header(
    alias=KEY_HEADER,
    max_length=200,
    description="Send a new key (e.g. a UUID) with every write and the same key with its retries: a retry gets "
    "the first answer (Idempotent-Replayed: true) instead of acting again; the same key with another body is 422.",
)


async def keyed_write(
    runtime: Any, request: Request, actor_id: str, body: Any, write: Callable[[UnitOfWork], Any], *, status: int = 200
) -> JSONResponse:
    """:func:`run_write` for a write whose answer is a JSON view made inside its transaction:
    ``write`` acts and returns the view; a retry with the same ``Idempotency-Key`` gets the
    first view back instead of acting again."""

    def tx(uow: UnitOfWork) -> Answer:
        return Answer(status, jsonable_encoder(write(uow)), {})

    return await run_write(runtime, idempotent_request(request, actor_id, body), tx)
