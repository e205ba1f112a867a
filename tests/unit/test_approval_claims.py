"""Claims ("Tôi xử lý"): the domain rules, and the commands on a real unit of work (SQLite):
the claim row, its events in the unit-year's stream and history, and a decision by another
official refused while the claim holds."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.approval import commands, queries
from services.approval.app import MIGRATIONS, create_runtime
from services.approval.domain.chains import ChainConfig
from services.approval.domain.model import (
    ApprovalCase,
    ApprovalError,
    Claim,
    ClaimConflictError,
    claim_case,
    reassign_case,
    release_case,
)
from services.approval.orm import claims, history
from services.approval.settings import ApprovalSettings
from shared.contracts.envelope import Actor
from shared.contracts.inbound import ReviewDecisionSubmitted
from shared.contracts.lifecycle import APPROVAL
from shared.infra.http import http_command
from shared.infra.migrate import upgrade_head_async
from shared.infra.runtime import ServiceRuntime
from tests.unit.builders import unit

AN = {"id": "ca-an", "name": "Trung úy An"}
BINH = {"id": "ca-binh", "name": "Thiếu úy Bình"}
HERE = ["commune:" + unit()["commune_code"]]


def case(code: str = "QN-KDC-001") -> ApprovalCase:
    u = unit(code)
    c = ApprovalCase.open(f"{code}:2025", 2025, u, ChainConfig.load().chain_for(u, 2025))
    c.self_score(1, "met", [])
    return c


def held(c: ApprovalCase, who: dict[str, str]) -> Claim:
    return Claim(c.unit_year_id, c.pending_level or "", c.step, c.round, who["id"], who["name"])


def test_a_claim_is_taken_once_and_refused_to_another() -> None:
    c = case()
    ev = claim_case(c, None, AN, HERE)
    assert ev is not None and ev.event_type == "CaseClaimed" and ev.payload["claimed_by"] == AN and ev.payload["step"] == 0
    assert claim_case(c, held(c, AN), AN, HERE) is None  # already theirs
    with pytest.raises(ClaimConflictError) as err:
        claim_case(c, held(c, AN), BINH, HERE)
    assert err.value.code == "claimed_by_other" and "Trung úy An" in err.value.reason


def test_a_claim_needs_the_jurisdiction_and_a_pending_step() -> None:
    c = case()
    with pytest.raises(ApprovalError) as err:
        claim_case(c, None, AN, ["commune:ELSEWHERE"])
    assert err.value.code == "out_of_jurisdiction"
    done = case()
    done.decide(
        level="commune",
        decision="reject",
        reasons=["x"],
        decided_by="a",
        decision_no=None,
        decided_on=None,
        certificate_no=None,
        today=date(2025, 11, 10),
    )
    with pytest.raises(ApprovalError) as err:
        claim_case(done, None, AN, HERE)
    assert err.value.code == "illegal_transition"


def test_a_claim_of_an_earlier_step_no_longer_holds() -> None:
    c = case()
    old = held(c, AN)
    c.decide(
        level="commune",
        decision="pass",
        reasons=[],
        decided_by="a",
        decision_no=None,
        decided_on=None,
        certificate_no=None,
        today=date(2025, 11, 10),
    )
    assert c.pending_role == "decide" and not old.applies_to(c)
    assert claim_case(c, old, BINH, HERE) is not None


def test_release_and_reassignment() -> None:
    c = case()
    with pytest.raises(ClaimConflictError):
        release_case(c, held(c, AN), BINH, supervisor=False, jurisdiction=HERE, reason=None)
    ev = release_case(c, held(c, AN), BINH, supervisor=True, jurisdiction=HERE, reason="nghỉ phép")
    assert ev.payload["claimed_by"] == AN and ev.payload["released_by"] == BINH
    with pytest.raises(ApprovalError) as err:
        release_case(c, None, AN, supervisor=False, jurisdiction=HERE, reason=None)
    assert err.value.code == "not_claimed"
    with pytest.raises(ApprovalError) as err:
        reassign_case(c, held(c, AN), BINH, HERE[0], AN, supervisor=False, jurisdiction=HERE, reason=None)
    assert err.value.code == "forbidden"
    with pytest.raises(ApprovalError) as err:
        reassign_case(c, held(c, AN), BINH, "commune:ELSEWHERE", AN, supervisor=True, jurisdiction=HERE, reason=None)
    assert err.value.code == "out_of_jurisdiction"
    ev = reassign_case(
        c, held(c, AN), BINH, HERE[0], {"id": "sup", "name": "Trưởng CA"}, supervisor=True, jurisdiction=HERE, reason=None
    )
    assert ev.payload["claimed_by"] == AN and ev.payload["assigned_to"] == BINH


def test_claims_change_no_state_in_the_public_lifecycle() -> None:
    for t in ("CaseClaimed", "CaseReleased", "CaseReassigned"):
        assert APPROVAL.trigger_for(t, {}) is None


# --------------------------------------------------------------------------- commands
async def approval_runtime(tmp_path: Path, *aggregates: object) -> ServiceRuntime:
    """The approval service's runtime on a fresh, migrated SQLite database holding ``aggregates``."""
    url = f"sqlite+aiosqlite:///{tmp_path}/approval.db"
    (tmp_path / "senders.json").write_text("{}", encoding="utf-8")
    runtime = create_runtime(ApprovalSettings(database_url=url, senders_file=tmp_path / "senders.json"))
    await upgrade_head_async(MIGRATIONS, url)

    def add(uow: Any) -> None:
        for a in aggregates:
            uow.add(a)

    await runtime.transaction(add)
    return runtime


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[ServiceRuntime]:
    runtime = await approval_runtime(tmp_path, case())
    try:
        yield runtime
    finally:
        await runtime.engine.dispose()


def actor(who: dict[str, str]) -> Actor:
    return Actor(id=who["id"], role="appraise", jurisdiction=HERE[0])


def claim_cmd(who: dict[str, str], fn: str = "CaseClaimRequested", **kw: Any) -> Any:
    return http_command(fn, commands.ClaimRequest(unit_year_id="QN-KDC-001:2025", official=who, **kw), actor(who))


def decision_cmd(who: dict[str, str]) -> Any:
    body = ReviewDecisionSubmitted(unit_year_id="QN-KDC-001:2025", level="commune", decision="pass", decided_by=who["name"])  # type: ignore[arg-type]
    return http_command("ReviewDecisionSubmitted", body, actor(who))


async def rows(runtime: ServiceRuntime, table: Any) -> list[dict[str, Any]]:
    async with runtime.sessions() as s:
        return [dict(r._mapping) for r in await s.execute(select(table))]


async def test_a_decision_by_another_official_is_refused_while_the_claim_holds(rt: ServiceRuntime) -> None:
    assert await rt.transaction(lambda uow: commands.claim(uow, claim_cmd(AN))) == "applied"
    assert await rt.transaction(lambda uow: commands.claim(uow, claim_cmd(AN))) == "ignored"
    [row] = await rows(rt, claims)
    assert (row["official_id"], row["level"], row["step"], row["round"]) == ("ca-an", "commune", 0, 1)
    with pytest.raises(ClaimConflictError):
        await rt.transaction(lambda uow: commands.decide(uow, decision_cmd(BINH)))
    async with rt.sessions() as s:
        c = await s.run_sync(lambda ss: queries.case(ss, "QN-KDC-001:2025"))
        assert c is not None and c.state == "self_scored" and c.decisions == []  # nothing written
    assert await rt.transaction(lambda uow: commands.decide(uow, decision_cmd(AN))) == "applied"
    assert await rows(rt, claims) == []  # the decision ends the claim
    kinds = [r["event_type"] for r in sorted(await rows(rt, history), key=lambda r: r["sequence"])]
    assert kinds == ["CaseClaimed", "UnitYearReviewed"]
    outbox = [json.loads(r["value"]) for r in await rows(rt, rt.infra.outbox)]
    claimed = next(e for e in outbox if e["event_type"] == "CaseClaimed")
    assert claimed["actor"]["id"] == "ca-an" and claimed["payload"]["claimed_by"] == AN and "state" not in claimed["payload"]


async def test_release_then_another_official_may_claim(rt: ServiceRuntime) -> None:
    await rt.transaction(lambda uow: commands.claim(uow, claim_cmd(AN)))
    with pytest.raises(ClaimConflictError):
        await rt.transaction(lambda uow: commands.claim(uow, claim_cmd(BINH)))
    await rt.transaction(lambda uow: commands.release(uow, claim_cmd(AN, "CaseReleaseRequested")))
    await rt.transaction(lambda uow: commands.claim(uow, claim_cmd(BINH)))
    [row] = await rows(rt, claims)
    assert row["official_id"] == "ca-binh"
    sup = {"id": "sup", "name": "Trưởng CA"}
    await rt.transaction(
        lambda uow: commands.reassign(
            uow, claim_cmd(sup, "CaseReassignRequested", supervisor=True, assign_to=AN, assign_to_jurisdiction=HERE[0])
        )
    )
    [row] = await rows(rt, claims)
    assert row["official_id"] == "ca-an"
