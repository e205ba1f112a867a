"""What the console reads, always inside the signed-in official's jurisdiction.

Everything comes from the approval service's own tables, which it fills from the events it
consumes (the cases, the unit register, every unit-year's event history) and from its own
claims; never from another service's tables.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from services.approval import queries
from services.approval.console import labels
from services.approval.console.session import LEVELS, Official
from services.approval.domain.chains import DELEGABLE
from services.approval.domain.machine import FINAL, UNDER_REVIEW
from services.approval.domain.model import ApprovalCase, commune_code_of
from services.approval.orm import cases, claims, units
from shared.contracts.jurisdiction import may_decide, may_read, read_scope

C = ApprovalCase
#: the case table's columns, for conditions and ordering (typed, unlike the mapped class's attributes)
K = cases.c


def scope_clause(jurisdiction: str) -> ColumnElement[bool] | None:
    """The cases a jurisdiction may read (``may_read`` in SQL; ``None``: all of them). The
    district is read from the case's unit, as the JSON API's queue does."""
    scope = read_scope(jurisdiction)
    if scope is None:
        return None
    field_name, code = scope
    if field_name == "district_code":
        return cases.c.unit["district_code"].as_string() == code
    return K[field_name] == code


def in_scope(official: Official, case: ApprovalCase) -> bool:
    return may_read(official.jurisdiction, case.unit)


def levels_for(official: Official) -> list[str]:
    """The queue levels an official may look at: their own and those below it."""
    return list(LEVELS[: LEVELS.index(official.level) + 1])


def default_step(official: Official) -> str:
    return {"appraise": "review", "decide": "decide"}.get(official.role, "")


@dataclass
class QueueFilter:
    level: str = ""
    commune: str = ""
    kind: str = ""
    state: str = ""
    step: str = ""
    late: bool = False
    claim: str = ""  # "" | mine | unclaimed | others
    page: int = 1

    def query(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", False, None) and not (k == "page" and v == 1)}


@dataclass
class QueuePage:
    items: list[dict[str, Any]]
    total: int
    counts: dict[str, int]
    page: int
    pages: int
    communes: list[tuple[str, str]] = field(default_factory=list)


def _claim_join() -> Any:
    return and_(claims.c.unit_year_id == K.unit_year_id, claims.c.step == K.step, claims.c.round == K.round)


def commune_names(session: Session, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    rows = session.execute(
        select(units.c.code, units.c.commune_code, units.c.name).where(units.c.kind == "commune", units.c.commune_code.in_(codes))
    ).all()
    return {r.commune_code: r.name for r in rows}


def queue_page(session: Session, official: Official, f: QueueFilter, *, today: date, page_size: int) -> QueuePage:
    level = f.level if f.level in levels_for(official) else official.level
    base: list[Any] = [K.state.in_(UNDER_REVIEW), K.pending_level == level]
    scope = scope_clause(official.jurisdiction)
    if scope is not None:
        base.append(scope)
    if f.commune:
        base.append(K.commune_code == f.commune)
    if f.kind:
        base.append(K.kind == f.kind)
    if f.step:
        base.append(K.pending_role == f.step)
    if f.late:
        base.append(K.deadline < today)
    if f.claim == "mine":
        base.append(claims.c.official_id == official.id)
    elif f.claim == "unclaimed":
        base.append(claims.c.official_id.is_(None))
    elif f.claim == "others":
        base.append(and_(claims.c.official_id.is_not(None), claims.c.official_id != official.id))
    counts_q = select(K.state, func.count()).select_from(C).outerjoin(claims, _claim_join()).where(*base).group_by(K.state)
    counts = {str(s): n for s, n in session.execute(counts_q).all()}
    where = [*base, K.state == f.state] if f.state else base
    total = int(session.execute(select(func.count()).select_from(C).outerjoin(claims, _claim_join()).where(*where)).scalar_one())
    pages = max(1, -(-total // page_size))
    page = min(max(1, f.page), pages)
    rows = session.execute(
        select(C, claims.c.official_id, claims.c.official_name)
        .outerjoin(claims, _claim_join())
        .where(*where)
        .order_by(K.deadline, K.unit_year_id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    scope_communes = select(K.commune_code).where(K.state.in_(UNDER_REVIEW), K.commune_code.is_not(None))
    if scope is not None:
        scope_communes = scope_communes.where(scope)
    codes = {c for (c,) in session.execute(scope_communes.distinct()).all() if c}
    names = commune_names(session, codes)
    items = []
    for case, holder_id, holder_name in rows:
        items.append(
            item_view(case, today=today, holder={"id": holder_id, "name": holder_name} if holder_id else None, names=names)
        )
    return QueuePage(
        items=items, total=total, counts=counts, page=page, pages=pages, communes=sorted((c, names.get(c, c)) for c in codes)
    )


def item_view(case: ApprovalCase, *, today: date, holder: dict[str, str] | None, names: dict[str, str]) -> dict[str, Any]:
    step = case.pending_step
    return {
        "unit_year_id": case.unit_year_id,
        "code": case.unit_code,
        "name": case.unit.get("name", case.unit_code),
        "kind": case.kind,
        "commune_code": case.commune_code,
        "commune_name": names.get(case.commune_code or "", case.commune_code),
        "state": str(case.state),
        "level": case.pending_level,
        "role": case.pending_role,
        "body": step["body"] if step else None,
        "deadline": case.deadline,
        "late": case.is_late(today),
        "days_left": None if case.deadline is None else (case.deadline - today).days,
        "holder": holder,
        "round": case.round,
    }


# --------------------------------------------------------------------------- a unit-year
def active_claim(session: Session, case: ApprovalCase) -> dict[str, str] | None:
    row = session.execute(select(claims).where(claims.c.unit_year_id == case.unit_year_id)).first()
    if row is None or case.state not in UNDER_REVIEW or (row.step, row.round) != (case.step, case.round):
        return None
    return {"id": row.official_id, "name": row.official_name, "claimed_at": row.claimed_at}


def _last(history: list[dict[str, Any]], event_type: str) -> dict[str, Any] | None:
    for env in reversed(history):
        if env["event_type"] == event_type:
            return env
    return None


def _details(env: dict[str, Any]) -> list[str]:
    p = env.get("payload") or {}
    t = env["event_type"]
    out: list[str] = []
    if t in ("CaseClaimed",):
        out.append(f"Người nhận: {p['claimed_by']['name']}")
    if t == "CaseReleased":
        out.append(f"Người đang xử lý: {p['claimed_by']['name']}; trả lại bởi: {p['released_by']['name']}")
    if t == "CaseReassigned":
        before = p.get("claimed_by") or {}
        out.append(
            f"Phân công cho: {p['assigned_to']['name']} (trước đó: {before.get('name', 'chưa ai nhận')}); bởi: {p['reassigned_by']['name']}"
        )
    if p.get("level") and t.startswith("UnitYear"):
        out.append(labels.LEVEL.get(p["level"], p["level"]))
    for key, label in (
        ("deciding_body", "Cơ quan quyết định"),
        ("decided_by", "Người quyết định"),
        ("decision_no", "Số quyết định"),
        ("decided_on", "Ngày quyết định"),
        ("certificate_no", "Số giấy chứng nhận"),
        ("verdict", "Kết quả"),
        ("pending_level", "Chờ"),
        ("reason", "Lý do"),
    ):
        v = p.get(key)
        if v in (None, "", []) or (t == "CaseReleased" and key == "reason" and not v):
            continue
        if key == "verdict":
            v = labels.VERDICT.get(v, v)
        if key == "pending_level":
            v = labels.LEVEL.get(v, v)
        out.append(f"{label}: {v}")
    for r in p.get("reasons") or []:
        out.append(f"Lý do / nội dung: {r}")
    if p.get("unmet"):
        out.append("Tiêu chí chưa đạt: " + ", ".join(p["unmet"]))
    if t == "IncidentRecorded":
        out.append(
            f"Ngày xảy ra: {p.get('occurred_on')}; loại: {p.get('category')}; {labels.INCIDENT_EFFECT.get(p.get('effect', ''), p.get('effect'))}"
        )
    return out


def timeline(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "at": env["recorded_at"][:19].replace("T", " "),
            "type": env["event_type"],
            "label": labels.EVENT.get(env["event_type"], env["event_type"]),
            "producer": labels.PRODUCER.get(env["producer"], env["producer"]),
            "actor": env.get("actor") or {},
            "details": _details(env),
            "state": (env.get("payload") or {}).get("state") if env["producer"] == "approval" else None,
        }
        for env in history
    ]


def _is_child(kind: str, managing_level: str) -> bool:
    return kind == "residential_area" or (kind in DELEGABLE and managing_level == "commune")


def children(session: Session, case: ApprovalCase) -> list[dict[str, Any]]:
    """The units a commune manages, with their unit-year's state (or that they did not register)."""
    cc = commune_code_of(case.unit)
    out: dict[str, dict[str, Any]] = {}
    for r in session.execute(select(units).where(units.c.commune_code == cc, units.c.code != case.unit_code)).all():
        if _is_child(r.kind, r.managing_level):
            out[r.code] = {"code": r.code, "name": r.name, "kind": r.kind, "unit_year_id": None, "state": None}
    rows = session.execute(select(C).where(K.commune_code == cc, K.year == case.year, K.unit_code != case.unit_code)).scalars()
    for c in rows:
        if _is_child(c.kind, c.unit.get("managing_level", "")):
            out[c.unit_code] = {
                "code": c.unit_code,
                "name": c.unit.get("name", c.unit_code),
                "kind": c.kind,
                "unit_year_id": c.unit_year_id,
                "state": str(c.state),
            }
    return sorted(out.values(), key=lambda x: x["code"])


def chain_view(case: ApprovalCase) -> list[dict[str, Any]]:
    steps = []
    by_step: dict[int, dict[str, Any]] = {}
    rounds = [d for d in case.decisions if d.get("round") == case.round and d.get("decision") == "pass"]
    for i, d in enumerate(rounds):
        by_step[i] = d
    for i, s in enumerate(case.chain):
        if case.state in UNDER_REVIEW and i == case.step:
            status = "current"
        elif i in by_step:
            status = "done"
        else:
            status = "todo"
        steps.append({**s, "index": i + 1, "status": status, "decision": by_step.get(i)})
    return steps


def unit_year_page(session: Session, case: ApprovalCase, official: Official, *, today: date) -> dict[str, Any]:
    history = queries.event_history(session, case.unit_year_id)
    reg = _last(history, "UnitYearRegistered")
    sa = _last(history, "SelfAssessmentRecorded")
    incidents = [env["payload"] for env in history if env["event_type"] == "IncidentRecorded"]
    holder = active_claim(session, case)
    names = commune_names(session, {case.commune_code} if case.commune_code else set())
    view: dict[str, Any] = {
        "case": case,
        "item": item_view(case, today=today, holder=holder, names=names),
        "unit": case.unit,
        "chain": chain_view(case),
        "registration": reg["payload"] if reg else None,
        "assessment": sa["payload"] if sa else None,
        "incidents": incidents,
        "flags": case.flags,
        "timeline": timeline(history),
        "holder": holder,
        "rollup": None,
        "children": [],
    }
    if case.kind == "commune":
        view["rollup"] = queries.commune_rollup(session, case).view()
        view["children"] = children(session, case)
    under = case.state in UNDER_REVIEW and case.pending_level is not None
    view["may_act"] = bool(under and may_decide([official.jurisdiction], case.pending_level or "", case.unit))
    view["may_decide"] = view["may_act"] and official.may_take(case.pending_role)
    view["may_revoke"] = (
        str(case.state) == "recognized"
        and official.role in ("decide", "supervise")
        and may_decide([official.jurisdiction], case.deciding_level, case.unit)
    )
    return view


# --------------------------------------------------------------------------- following
GROUPS = (
    ("registered", "Chờ tự đánh giá"),
    ("review", "Chờ thẩm định"),
    ("decide", "Chờ công nhận"),
    ("returned", "Trả lại bổ sung"),
    ("recognized", "Đã công nhận"),
    ("not_recognized", "Không công nhận"),
    ("withdrawn", "Rút đăng ký"),
    ("revoked", "Thu hồi"),
)


def _group(state: str, role: str | None) -> str:
    if state in UNDER_REVIEW:
        return role or "review"
    return state


def years(session: Session, official: Official) -> list[int]:
    q = select(K.year).distinct().order_by(K.year.desc())
    scope = scope_clause(official.jurisdiction)
    if scope is not None:
        q = q.where(scope)
    return [y for (y,) in session.execute(q).all()]


def dashboard(session: Session, official: Official, *, year: int, commune: str, today: date) -> dict[str, Any]:
    where: list[Any] = [K.year == year]
    scope = scope_clause(official.jurisdiction)
    if scope is not None:
        where.append(scope)
    if commune:
        where.append(K.commune_code == commune)
    rows = session.execute(
        select(K.commune_code, K.kind, K.state, K.pending_role, K.deadline, func.count())
        .where(*where)
        .group_by(K.commune_code, K.kind, K.state, K.pending_role, K.deadline)
    ).all()
    by_commune: dict[str, Counter[str]] = defaultdict(Counter)
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    deadlines: dict[str, date] = {}
    for cc, kind, state, role, deadline, n in rows:
        g = _group(str(state), role)
        key = cc or "—"
        for target in (by_commune[key], by_kind[kind]):
            target[g] += n
            target["total"] += n
            if str(state) not in FINAL and deadline < today:
                target["late"] += n
        deadlines[kind] = deadline
    names = commune_names(session, {k for k in by_commune if k != "—"})
    flagged_q = select(C).where(K.open_flags > 0, *where).order_by(K.unit_year_id)
    flagged = list(session.execute(flagged_q).scalars())

    def rows_of(d: dict[str, Counter[str]], label: Any) -> list[dict[str, Any]]:
        out = []
        for k in sorted(d):
            cnt = d[k]
            total = cnt["total"] or 1
            out.append(
                {
                    "key": k,
                    "label": label(k),
                    "total": cnt["total"],
                    "late": cnt["late"],
                    "counts": {g: cnt[g] for g, _ in GROUPS},
                    "pct": {g: round(100 * cnt[g] / total, 1) for g, _ in GROUPS},
                    "done_pct": round(100 * (cnt["recognized"] + cnt["not_recognized"]) / total, 1),
                }
            )
        return out

    return {
        "year": year,
        "commune": commune,
        "groups": GROUPS,
        "by_commune": rows_of(by_commune, lambda k: names.get(k, k)),
        "by_kind": rows_of(by_kind, lambda k: labels.KIND.get(k, k)),
        "deadlines": sorted({(labels.KIND.get(k, k), d) for k, d in deadlines.items()}, key=lambda x: x[1]),
        "flagged": flagged,
        # the flags this official may act on: the revocation is the recognising level's (a
        # commune's flag from its hamlet's incident, Art. 5.2, waits for the province)
        "revocable": {
            c.unit_year_id
            for c in flagged
            if official.role in ("decide", "supervise") and may_decide([official.jurisdiction], c.deciding_level, c.unit)
        },
        "commune_name": names.get(commune, commune) if commune else None,
    }


def recognised(session: Session, official: Official, *, year: int, commune: str = "") -> list[dict[str, Any]]:
    """Danh sách công nhận: the recognised unit-years in the jurisdiction, with their
    decision and certificate numbers."""
    where: list[Any] = [K.year == year, K.state == "recognized"]
    scope = scope_clause(official.jurisdiction)
    if scope is not None:
        where.append(scope)
    if commune:
        where.append(K.commune_code == commune)
    cases = list(
        session.execute(select(C).where(*where).order_by(K.province_code, K.commune_code, K.kind, K.unit_code)).scalars()
    )
    names = commune_names(session, {c.commune_code for c in cases if c.commune_code})
    out = []
    for c in cases:
        d: dict[str, Any] = next(
            (d for d in reversed(c.decisions) if d.get("decision") == "pass" and d.get("role") == "decide"), {}
        )
        out.append(
            {
                "unit_code": c.unit_code,
                "name": c.unit.get("name", c.unit_code),
                "kind": labels.KIND.get(c.kind, c.kind),
                "commune": names.get(c.commune_code or "", c.commune_code or ""),
                "province_code": c.province_code,
                "year": c.year,
                "level": labels.LEVEL.get(d.get("level", ""), d.get("level", "")),
                "body": d.get("body", ""),
                "decision_no": d.get("decision_no") or "",
                "decided_on": d.get("decided_on") or "",
                "certificate_no": d.get("certificate_no") or "",
                "decided_by": d.get("decided_by") or "",
            }
        )
    return out
