"""schemathesis against each service's OpenAPI document, in process (ASGI).

For every operation of the three services, generated requests (valid and invalid bodies,
parameters and headers) sent by an authorised caller (an administrator's bearer token) and by
unauthorised ones (no token, an unknown token) must never get a 5xx, and every answer must
conform to the document: its status code, content type, headers and body schema.

Each service runs on a SQLite file of its own; its runtime is not started (no broker: the
application's lifespan is replaced, and ``/ready`` probes a closed port). The examples per
operation are bounded (``ANTT_SCHEMATHESIS_EXAMPLES``, default 25) to keep the suite fast.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from services.approval import app as approval_app
from services.approval.settings import ApprovalSettings
from services.assessment import app as assessment_app
from services.assessment.settings import AssessmentSettings
from services.registration import app as registration_app
from services.registration.settings import RegistrationSettings
from shared.infra.migrate import upgrade_head_async
from tests.unit.builders import senders_json

EXAMPLES = int(os.environ.get("ANTT_SCHEMATHESIS_EXAMPLES", "25"))
TOKEN = "schemathesis-admin-token"
CALLERS = {
    "authorised": {"Authorization": f"Bearer {TOKEN}"},
    "no_token": {},
    "unknown_token": {"Authorization": "Bearer not-a-token-anyone-has"},
}
FACTORIES = {
    "registration": (registration_app, RegistrationSettings),
    "assessment": (assessment_app, AssessmentSettings),
    "approval": (approval_app, ApprovalSettings),
}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _no_lifespan(_app: Any) -> AsyncIterator[None]:
    yield


def build_app(service: str, tmp: Path) -> FastAPI:
    module, settings_cls = FACTORIES[service]
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "senders.json").write_text(senders_json(), encoding="utf-8")
    (tmp / "tokens.json").write_text(
        json.dumps({TOKEN: {"id": "admin@test", "role": "admin", "jurisdiction": "*"}}), encoding="utf-8"
    )
    url = f"sqlite+aiosqlite:///{tmp / service}.db"
    settings = settings_cls(
        database_url=url,
        senders_file=tmp / "senders.json",
        api_tokens_file=tmp / "tokens.json",
        kafka_bootstrap=f"127.0.0.1:{_closed_port()}",
        ready_broker_timeout_s=0.2,
        ready_broker_cache_s=60.0,
        log_level="WARNING",
    )
    asyncio.run(upgrade_head_async(module.MIGRATIONS, url))
    app = module.create_app(settings)
    app.router.lifespan_context = _no_lifespan
    return app


# The schemas are loaded when the module is collected (schemathesis parametrizes by operation);
# each service gets a temporary folder of its own, removed when the process ends.
_TMP = Path(tempfile.mkdtemp(prefix="antt-schemathesis-"))
atexit.register(shutil.rmtree, _TMP, True)
SCHEMAS = {name: schemathesis.openapi.from_asgi("/openapi.json", build_app(name, _TMP / name)) for name in sorted(FACTORIES)}
CHECK = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


#: what is checked: no 5xx, and every answer as documented (status, content type, headers, body).
#: Not checked: whether a schema-valid request is accepted (a body can satisfy the schema and
#: still break a rule of the programme, e.g. a residential area without its commune: 422 with the
#: reason) or an invalid one refused (unknown query parameters are ignored, as HTTP allows).
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.allow_header_conformance,
]


def send_as_every_caller(case: Any) -> None:
    """Each generated request is sent by each caller. ``/ready`` answers 503 by design here (its
    broker is a closed port): documented, and checked like every other answer, but not as a
    server error."""
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    checks = [c for c in CHECKS if not (case.operation.path == "/ready" and c is schemathesis.checks.not_a_server_error)]
    for caller in CALLERS.values():
        case.call_and_validate(headers={**headers, **caller}, checks=checks)


@SCHEMAS["registration"].parametrize()
@CHECK
def test_registration_api(case: Any) -> None:
    send_as_every_caller(case)


@SCHEMAS["assessment"].parametrize()
@CHECK
def test_assessment_api(case: Any) -> None:
    send_as_every_caller(case)


@SCHEMAS["approval"].parametrize()
@CHECK
def test_approval_api(case: Any) -> None:
    send_as_every_caller(case)


# --------------------------------------------------------------------------- what it found
def _client(service: str) -> Any:
    from fastapi.testclient import TestClient

    return TestClient(SCHEMAS[service].app, headers=CALLERS["authorised"])


def test_a_malformed_unit_year_id_in_the_path_is_a_422_not_a_500() -> None:
    """Found by schemathesis: the path parameter was checked only by the inbound contract
    inside the route, whose ValidationError became a 500."""
    r = _client("assessment").post(
        "/unit-years/0/self-assessment", json={"criteria": [{"code": "KDC-1", "met": True}], "meeting_date": "2025-10-20"}
    )
    assert r.status_code == 422 and r.json()["error_code"] == "invalid_payload" and "unit_year_id" in r.json()["reason"]
    r = _client("registration").post("/unit-years/0/withdrawal", json={"reason": "x"})
    assert r.status_code == 422 and "unit_year_id" in r.json()["reason"]


def test_a_number_the_database_cannot_store_is_a_422_not_a_500() -> None:
    """Found by schemathesis: ``offset`` over 2^63 - 1 overflowed SQLite's integer."""
    r = _client("approval").get("/flags", params={"offset": 2**63})
    assert r.status_code == 422 and r.json()["error_code"] == "invalid_payload"


def test_a_405_allows_every_method_of_the_path() -> None:
    """Found by schemathesis: ``Allow`` named only the methods of the route Starlette matched."""
    r = _client("registration").options("/unit-years")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD, POST"
