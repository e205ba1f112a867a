"""Claims ("Tôi xử lý") on the exemplary title's steps: the ANTT chain's rules, the title's own
events on its own stream, its own rows, and a decision on the title by another official refused
while the claim holds. The ANTT chain's claims are not touched."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.approval import commands, queries
from services.approval.domain.model import Claim, ClaimConflictError, ExemplaryTitle, claim_case, reassign_case, release_case
from services.approval.orm import claims, exemplary_claims, history
from shared.contracts import events as ev
from shared.contracts.envelope import Actor
from shared.contracts.inbound import ExemplaryDecisionSubmitted
from shared.contracts.lifecycle import APPROVAL_EXEMPLARY, exemplary_stream
from shared.infra.http import http_command
from shared.infra.runtime import ServiceRuntime
from tests.unit.builders import PROVINCE
from tests.unit.test_approval_claims import approval_runtime, rows
from tests.unit.test_exemplary_title import opened, recognised_antt

AN = {"id": "ca-an", "name": "Trung úy An"}
BINH = {"id": "ca-binh", "name": "Thiếu úy Bình"}
HERE = [f"province:{PROVINCE}"]
UY = "QN-CQ-1:2025"


def self_scored() -> ExemplaryTitle:
    title = opened()
    title.self_score(1, "met", [])
    return title


def held(t: ExemplaryTitle, who: dict[str, str]) -> Claim:
    return Claim(t.unit_year_id, t.pending_level or "", t.step, t.round, who["id"], who["name"])


def test_the_titles_claims_are_its_own_events() -> None:
    t = self_scored()
    claimed = claim_case(t, None, AN, HERE)
    assert isinstance(claimed, ev.ExemplaryTitleClaimed)
    assert claimed.payload["claimed_by"] == AN and (claimed.payload["level"], claimed.payload["step"]) == ("province", 0)
    assert claim_case(t, held(t, AN), AN, HERE) is None
    with pytest.raises(ClaimConflictError) as err:
        claim_case(t, held(t, AN), BINH, HERE)
    assert "the exemplary title of unit-year" in err.value.reason and "Trung úy An" in err.value.reason
    released = release_case(t, held(t, AN), AN, supervisor=False, jurisdiction=HERE, reason=None)
    assert isinstance(released, ev.ExemplaryTitleReleased)
    moved = reassign_case(
        t, held(t, AN), BINH, HERE[0], {"id": "sup", "name": "Trưởng phòng"}, supervisor=True, jurisdiction=HERE, reason=None
    )
    assert isinstance(moved, ev.ExemplaryTitleReassigned) and moved.payload["assigned_to"] == BINH


def test_a_title_not_under_review_cannot_be_claimed() -> None:
    with pytest.raises(Exception) as err:
        claim_case(opened(), None, AN, HERE)  # proposed: not self-scored yet
    assert getattr(err.value, "code", None) == "illegal_transition"


def test_the_titles_claims_change_no_state() -> None:
    for t in ("ExemplaryTitleClaimed", "ExemplaryTitleReleased", "ExemplaryTitleReassigned"):
        assert APPROVAL_EXEMPLARY.trigger_for(t, {}) is None


# --------------------------------------------------------------------------- commands
@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[ServiceRuntime]:
    antt = recognised_antt()
    title = opened(antt)
    title.self_score(1, "met", [])
    runtime = await approval_runtime(tmp_path, antt, title)
    try:
        yield runtime
    finally:
        await runtime.engine.dispose()


def actor(who: dict[str, str]) -> Actor:
    return Actor(id=who["id"], role="decide", jurisdiction=HERE[0])


def claim_cmd(who: dict[str, str], fn: str = "CaseClaimRequested", **kw: Any) -> Any:
    return http_command(fn, commands.ClaimRequest(unit_year_id=UY, official=who, exemplary=True, **kw), actor(who))


def decision_cmd(who: dict[str, str]) -> Any:
    body = ExemplaryDecisionSubmitted(unit_year_id=UY, level="province", decision="pass", decided_by=who["name"])  # type: ignore[arg-type]
    return http_command("ExemplaryDecisionSubmitted", body, actor(who))


async def test_a_decision_on_the_title_by_another_official_is_refused_while_the_claim_holds(rt: ServiceRuntime) -> None:
    assert await rt.transaction(lambda uow: commands.claim(uow, claim_cmd(AN))) == "applied"
    [row] = await rows(rt, exemplary_claims)
    assert (row["official_id"], row["level"], row["step"], row["round"]) == ("ca-an", "province", 0, 1)
    assert await rows(rt, claims) == []  # the ANTT chain's claims are apart
    with pytest.raises(ClaimConflictError):
        await rt.transaction(lambda uow: commands.decide_exemplary(uow, decision_cmd(BINH)))
    async with rt.sessions() as s:
        t = await s.run_sync(lambda ss: queries.exemplary_title(ss, UY))
        assert t is not None and t.state == "self_scored" and t.decisions == []  # nothing written
    assert await rt.transaction(lambda uow: commands.decide_exemplary(uow, decision_cmd(AN))) == "applied"
    assert await rows(rt, exemplary_claims) == []  # the decision ends the claim
    outbox = [json.loads(r["value"]) for r in await rows(rt, rt.infra.outbox)]
    claimed = next(e for e in outbox if e["event_type"] == "ExemplaryTitleClaimed")
    assert claimed["stream_id"] == exemplary_stream(UY) and claimed["unit_year_id"] == UY
    assert claimed["payload"]["claimed_by"] == AN
    kinds = [r["event_type"] for r in await rows(rt, history) if r["event_type"].startswith("ExemplaryTitle")]
    assert "ExemplaryTitleClaimed" in kinds and "ExemplaryTitleReviewed" in kinds


async def test_release_and_reassignment_of_the_titles_step(rt: ServiceRuntime) -> None:
    await rt.transaction(lambda uow: commands.claim(uow, claim_cmd(AN)))
    with pytest.raises(ClaimConflictError):
        await rt.transaction(lambda uow: commands.claim(uow, claim_cmd(BINH)))
    await rt.transaction(lambda uow: commands.release(uow, claim_cmd(AN, "CaseReleaseRequested")))
    assert await rows(rt, exemplary_claims) == []
    sup = {"id": "sup", "name": "Trưởng phòng"}
    await rt.transaction(
        lambda uow: commands.reassign(
            uow, claim_cmd(sup, "CaseReassignRequested", supervisor=True, assign_to=BINH, assign_to_jurisdiction=HERE[0])
        )
    )
    [row] = await rows(rt, exemplary_claims)
    assert row["official_id"] == "ca-binh"
