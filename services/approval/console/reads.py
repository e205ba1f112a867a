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

from sqlalchemy import Table, and_, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from services.approval import queries
from services.approval.console import labels
from services.approval.console.session import LEVELS, Official
from services.approval.domain.chains import DELEGABLE
from services.approval.domain.machine import EXEMPLARY_UNDER_REVIEW, FINAL, UNDER_REVIEW
from services.approval.domain.model import ApprovalCase, ChainCase, ExemplaryTitle, commune_code_of
from services.approval.orm import case_repo, cases, claims, claims_of, exemplary_claims, exemplary_titles, title_repo, units
from shared.contracts.jurisdiction import may_decide, may_read, read_scope
from shared.contracts.lifecycle import EXEMPLARY_STREAM

C = ApprovalCase
#: the case table's columns, for conditions and ordering (typed, unlike the mapped class's attributes)
K = cases.c
T = ExemplaryTitle
#: the exemplary titles' columns (the title's case beside the unit-year's ANTT case)
X = exemplary_titles.c


def scope_clause(jurisdiction: str, table: Any = cases) -> ColumnElement[bool] | None:
    """The cases (or exemplary titles) a jurisdiction may read (``may_read`` in SQL; ``None``:
    all of them). The district is read from the case's unit, as the JSON API's queue does."""
    scope = read_scope(jurisdiction)
    if scope is None:
        return None
    field_name, code = scope
    if field_name == "district_code":
        return table.c.unit["district_code"].as_string() == code
    return table.c[field_name] == code


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
    #: "" (the ANTT recognition) | exemplary (the exemplary title, điển hình)
    track: str = ""

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


def _claim_join(t: Table = claims, on: Any = K) -> Any:
    """The claim that holds for the pending step of the case rows ``on`` (an ANTT case's
    columns, or with ``t = exemplary_claims`` an exemplary title's)."""
    return and_(t.c.unit_year_id == on.unit_year_id, t.c.step == on.step, t.c.round == on.round)


def _claim_filter(f: QueueFilter, official: Official, t: Table = claims) -> list[Any]:
    """The queue's "Người xử lý" filter on the claims ``t`` (outer-joined by :func:`_claim_join`)."""
    if f.claim == "mine":
        return [t.c.official_id == official.id]
    if f.claim == "unclaimed":
        return [t.c.official_id.is_(None)]
    if f.claim == "others":
        return [and_(t.c.official_id.is_not(None), t.c.official_id != official.id)]
    return []


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
    base.extend(_claim_filter(f, official))
    counts_q = select(K.state, func.count()).select_from(cases).outerjoin(claims, _claim_join()).where(*base).group_by(K.state)
    counts = {str(s): n for s, n in session.execute(counts_q).all()}
    where = [*base, K.state == f.state] if f.state else base
    total = int(
        session.execute(select(func.count()).select_from(cases).outerjoin(claims, _claim_join()).where(*where)).scalar_one()
    )
    pages = max(1, -(-total // page_size))
    page = min(max(1, f.page), pages)
    rows = session.execute(
        select(*cases.c, claims.c.official_id, claims.c.official_name)
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
    width = len(cases.c)
    for row in rows:
        case, holder_id, holder_name = case_repo.build(row[:width]), row[width], row[width + 1]
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


# --------------------------------------------------------------------------- the exemplary queue
def _title_filters(official: Official, f: QueueFilter) -> list[Any]:
    """The exemplary titles awaiting the official's level (or the one chosen below it) inside
    the jurisdiction, with the queue's filters that apply to a title (no deadline; the claims
    filter is on the title's own claims, outer-joined by :func:`_claim_join`)."""
    level = f.level if f.level in levels_for(official) else official.level
    base: list[Any] = [X.state.in_(EXEMPLARY_UNDER_REVIEW), X.pending_level == level]
    scope = scope_clause(official.jurisdiction, exemplary_titles)
    if scope is not None:
        base.append(scope)
    if f.commune:
        base.append(X.commune_code == f.commune)
    if f.kind:
        base.append(X.kind == f.kind)
    if f.step:
        base.append(X.pending_role == f.step)
    base.extend(_claim_filter(f, official, exemplary_claims))
    return base


def exemplary_waiting(session: Session, official: Official, f: QueueFilter) -> int:
    """How many exemplary titles await the official (the tab's count beside the ANTT queue)."""
    where = _title_filters(official, QueueFilter(level=f.level, step=f.step))
    return int(session.execute(select(func.count()).select_from(exemplary_titles).where(*where)).scalar_one())


def antt_waiting(session: Session, official: Official, f: QueueFilter) -> int:
    level = f.level if f.level in levels_for(official) else official.level
    where: list[Any] = [K.state.in_(UNDER_REVIEW), K.pending_level == level]
    scope = scope_clause(official.jurisdiction)
    if scope is not None:
        where.append(scope)
    if f.step:
        where.append(K.pending_role == f.step)
    return int(session.execute(select(func.count()).select_from(cases).where(*where)).scalar_one())


def exemplary_queue_page(session: Session, official: Official, f: QueueFilter, *, page_size: int) -> QueuePage:
    """The exemplary titles (điển hình) awaiting the official, oldest year first then by unit
    (the province sets no deadline for the title), with counts per state and paging."""
    base = _title_filters(official, f)
    joined = exemplary_titles.outerjoin(exemplary_claims, _claim_join(exemplary_claims, X))
    counts_q = select(X.state, func.count()).select_from(joined).where(*base).group_by(X.state)
    counts = {str(s): n for s, n in session.execute(counts_q).all()}
    where = [*base, X.state == f.state] if f.state else base
    total = int(session.execute(select(func.count()).select_from(joined).where(*where)).scalar_one())
    pages = max(1, -(-total // page_size))
    page = min(max(1, f.page), pages)
    rows = session.execute(
        select(*exemplary_titles.c, exemplary_claims.c.official_id, exemplary_claims.c.official_name)
        .select_from(joined)
        .where(*where)
        .order_by(X.year, X.unit_year_id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    width = len(exemplary_titles.c)
    titles = [title_repo.build(r[:width]) for r in rows]
    holders = {r[0]: {"id": r[width], "name": r[width + 1]} for r in rows if r[width]}
    scope = scope_clause(official.jurisdiction, exemplary_titles)
    communes_q = select(X.commune_code).where(X.state.in_(EXEMPLARY_UNDER_REVIEW), X.commune_code.is_not(None))
    if scope is not None:
        communes_q = communes_q.where(scope)
    codes = {c for (c,) in session.execute(communes_q.distinct()).all() if c}
    names = commune_names(session, codes | {t.commune_code for t in titles if t.commune_code})
    return QueuePage(
        items=[title_item(t, names=names, holder=holders.get(t.unit_year_id)) for t in titles],
        total=total,
        counts=counts,
        page=page,
        pages=pages,
        communes=sorted((c, names.get(c, c)) for c in codes),
    )


def title_item(t: ExemplaryTitle, *, names: dict[str, str], holder: dict[str, str] | None = None) -> dict[str, Any]:
    step = t.pending_step
    return {
        "unit_year_id": t.unit_year_id,
        "code": t.unit_code,
        "name": t.unit.get("name", t.unit_code),
        "kind": t.kind,
        "year": t.year,
        "commune_code": t.commune_code,
        "commune_name": names.get(t.commune_code or "", t.commune_code),
        "state": str(t.state),
        "level": t.pending_level,
        "role": t.pending_role,
        "body": step["body"] if step else None,
        "round": t.round,
        "verdict": t.verdict,
        "unmet": list(t.unmet),
        "antt_decision_no": t.antt_decision_no,
        "holder": holder,
    }


# --------------------------------------------------------------------------- a unit-year
def active_claim(session: Session, case: ChainCase) -> dict[str, str] | None:
    """Who works the case's pending step (its track's claim), if anyone."""
    t = claims_of(case)
    row = session.execute(select(t).where(t.c.unit_year_id == case.unit_year_id)).first()
    if row is None or case.state not in case.UNDER_REVIEW or (row.step, row.round) != (case.step, case.round):
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
    if t in ("CaseClaimed", "ExemplaryTitleClaimed"):
        out.append(f"Người nhận: {p['claimed_by']['name']}")
    if t in ("CaseReleased", "ExemplaryTitleReleased"):
        out.append(f"Người đang xử lý: {p['claimed_by']['name']}; trả lại bởi: {p['released_by']['name']}")
    if t in ("CaseReassigned", "ExemplaryTitleReassigned"):
        before = p.get("claimed_by") or {}
        out.append(
            f"Phân công cho: {p['assigned_to']['name']} (trước đó: {before.get('name', 'chưa ai nhận')}); bởi: {p['reassigned_by']['name']}"
        )
    if t == "MovementClassificationRecorded":
        out.append(f"Phân loại phong trào: {labels.MOVEMENT.get(p.get('rating', ''), p.get('rating'))}")
        out.append(f"Người phân loại: {p.get('classified_by')}")
    if t == "ExemplaryCaseOpened":
        out.append(f"Người đề nghị: {p.get('proposed_by')}")
        if p.get("submission_ref"):
            out.append(f"Tờ trình: {p['submission_ref']}")
    if t in ("ExemplarySelfAssessmentRecorded", "ExemplaryCaseReopened") and p.get("round"):
        out.append(f"Lần {p['round']}")
    if t == "ExemplaryTitleRevoked" and p.get("because_of") == "antt_revoked":
        out.append("Thu hồi theo quyết định thu hồi công nhận “An toàn về ANTT”")
    if t == "ExemplaryCaseClosed":
        out.append(f"Kết thúc: {labels.EXEMPLARY_STATE.get(p.get('outcome', ''), p.get('outcome'))}")
    if p.get("level") and t.startswith(("UnitYear", "ExemplaryTitle", "ExemplaryCase")):
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
        if v in (None, "", []) or (t in ("CaseReleased", "ExemplaryTitleReleased") and key == "reason" and not v):
            continue
        if key == "verdict":
            v = labels.VERDICT.get(v, v)
        if key == "decision_no" and t == "MovementClassificationRecorded":
            label = "Số quyết định phân loại"
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
            "exemplary": is_exemplary(env),
        }
        for env in history
    ]


def is_exemplary(env: dict[str, Any]) -> bool:
    """An event of the exemplary track: on an ``exemplary:`` stream, or the movement's
    classification, which the track is judged on."""
    return str(env.get("stream_id", "")).startswith(EXEMPLARY_STREAM) or env["event_type"] == "MovementClassificationRecorded"


def _is_child(kind: str, managing_level: str) -> bool:
    return kind == "residential_area" or (kind in DELEGABLE and managing_level == "commune")


def children(session: Session, case: ApprovalCase) -> list[dict[str, Any]]:
    """The units a commune manages, with their unit-year's state (or that they did not register)."""
    cc = commune_code_of(case.unit)
    out: dict[str, dict[str, Any]] = {}
    for r in session.execute(select(units).where(units.c.commune_code == cc, units.c.code != case.unit_code)).all():
        if _is_child(r.kind, r.managing_level):
            out[r.code] = {"code": r.code, "name": r.name, "kind": r.kind, "unit_year_id": None, "state": None}
    rows = case_repo.select(session, K.commune_code == cc, K.year == case.year, K.unit_code != case.unit_code)
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


def chain_view(case: ChainCase) -> list[dict[str, Any]]:
    """The case's chain with each step done, current or still to come (either track's)."""
    steps = []
    by_step: dict[int, dict[str, Any]] = {}
    rounds = [d for d in case.decisions if d.get("round") == case.round and d.get("decision") == "pass"]
    for i, d in enumerate(rounds):
        by_step[i] = d
    for i, s in enumerate(case.chain):
        if case.state in case.UNDER_REVIEW and i == case.step:
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
    title = queries.exemplary_title(session, case.unit_year_id)
    view["exemplary"] = None if title is None else exemplary_section(session, title, official, history)
    return view


# --------------------------------------------------------------------------- the exemplary title
def _last_index(history: list[dict[str, Any]], event_type: str) -> int:
    for i in range(len(history) - 1, -1, -1):
        if history[i]["event_type"] == event_type:
            return i
    return -1


def exemplary_assessment(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The exemplary self-assessment as it stands: the last ``ExemplarySelfAssessmentRecorded``
    per criterion, with a later ``ExemplaryEvaluationRevised`` of the same round applied (it
    carries the new verdict and unmet criteria, not the per-criterion reasons: a criterion it
    turns is marked as revised, with the revision's reason)."""
    i = _last_index(history, "ExemplarySelfAssessmentRecorded")
    if i < 0:
        return None
    sa = history[i]["payload"]
    j = _last_index(history, "ExemplaryEvaluationRevised")
    revision = history[j]["payload"] if j > i and history[j]["payload"].get("round") == sa.get("round") else None
    verdict, unmet = sa.get("verdict"), list(sa.get("unmet") or [])
    criteria = []
    for c in sa.get("criteria") or []:
        row = {**c, "revised": False}
        if revision is not None:
            now_unmet = c["code"] in (revision.get("unmet") or [])
            if now_unmet and c.get("result") != "not_met":
                row.update(result="not_met", revised=True, revision_reason=revision.get("reason"))
            elif not now_unmet and c.get("result") == "not_met":
                row.update(result="met", revised=True, revision_reason=revision.get("reason"))
        criteria.append(row)
    if revision is not None:
        verdict, unmet = revision.get("verdict"), list(revision.get("unmet") or [])
    return {**sa, "criteria": criteria, "verdict": verdict, "unmet": unmet, "revision": revision}


def exemplary_section(
    session: Session, title: ExemplaryTitle, official: Official, history: list[dict[str, Any]]
) -> dict[str, Any]:
    """The "Điển hình" section of a unit-year's page: the title's case along its own chain,
    the proposal, the movement's classification and the exemplary self-assessment as the
    assessment service recorded them (from the unit-year's event history), and what the
    official may do on it."""
    opened = _last(history, "ExemplaryCaseOpened")
    movement = _last(history, "MovementClassificationRecorded")
    under = title.state in title.UNDER_REVIEW and title.pending_level is not None
    may_act = bool(under and may_decide([official.jurisdiction], title.pending_level or "", title.unit))
    return {
        "title": title,
        "state": str(title.state),
        "chain": chain_view(title),
        "proposal": opened["payload"] if opened else None,
        "movement": movement["payload"] if movement else None,
        "assessment": exemplary_assessment(history),
        "decisions": list(title.decisions),
        "holder": active_claim(session, title),
        "may_act": may_act,
        "may_decide": may_act and official.may_take(title.pending_role),
        "may_revoke": (
            str(title.state) == "recognized"
            and official.role in ("decide", "supervise")
            and may_decide([official.jurisdiction], title.deciding_level, title.unit)
        ),
    }


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
    flagged = case_repo.select(session, K.open_flags > 0, *where, order_by=(K.unit_year_id,))

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
        "exemplary": exemplary_progress(session, official, year=year, commune=commune),
    }


#: the exemplary titles' states as the dashboard groups them
EXEMPLARY_GROUPS = (
    ("proposed", "Chờ tự đánh giá điển hình"),
    ("review", "Chờ thẩm định"),
    ("decide", "Chờ công nhận"),
    ("returned", "Trả lại bổ sung"),
    ("recognized", "Đã công nhận điển hình"),
    ("not_recognized", "Không công nhận"),
    ("revoked", "Thu hồi"),
    ("lapsed", "Hết hiệu lực đề nghị"),
)


def exemplary_progress(session: Session, official: Official, *, year: int, commune: str) -> dict[str, Any]:
    """The exemplary titles of the year in the jurisdiction per state, by unit kind."""
    where: list[Any] = [X.year == year]
    scope = scope_clause(official.jurisdiction, exemplary_titles)
    if scope is not None:
        where.append(scope)
    if commune:
        where.append(X.commune_code == commune)
    rows = session.execute(
        select(X.kind, X.state, X.pending_role, func.count()).where(*where).group_by(X.kind, X.state, X.pending_role)
    ).all()
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    total: Counter[str] = Counter()
    for kind, state, role, n in rows:
        g = (role or "review") if state in EXEMPLARY_UNDER_REVIEW else str(state)
        for target in (by_kind[kind], total):
            target[g] += n
            target["total"] += n
    return {
        "groups": EXEMPLARY_GROUPS,
        "rows": [
            {"key": k, "label": labels.KIND.get(k, k), "total": c["total"], "counts": {g: c[g] for g, _ in EXEMPLARY_GROUPS}}
            for k, c in sorted(by_kind.items())
        ],
        "total": {"total": total["total"], "counts": {g: total[g] for g, _ in EXEMPLARY_GROUPS}},
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
    cases = case_repo.select(session, *where, order_by=(K.province_code, K.commune_code, K.kind, K.unit_code))
    names = commune_names(session, {c.commune_code for c in cases if c.commune_code})
    titles = queries.exemplary_titles_of(session, [c.unit_year_id for c in cases])
    out = []
    for c in cases:
        d = _recognition(c)
        title = titles.get(c.unit_year_id)
        td = _recognition(title) if title is not None and str(title.state) == "recognized" else {}
        out.append(
            {
                "exemplary": "" if title is None else labels.EXEMPLARY_STATE.get(str(title.state), str(title.state)),
                "exemplary_decision_no": td.get("decision_no") or "",
                "exemplary_certificate_no": td.get("certificate_no") or "",
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


def _recognition(case: ChainCase) -> dict[str, Any]:
    """The decision that recognised the case (its decide step passed), or ``{}``."""
    return next((d for d in reversed(case.decisions) if d.get("decision") == "pass" and d.get("role") == "decide"), {})


def recognised_exemplary(session: Session, official: Official, *, year: int, commune: str = "") -> list[dict[str, Any]]:
    """Danh sách công nhận điển hình: the exemplary titles recognised (and in force) in the
    jurisdiction, with the decision and certificate numbers, and the ANTT recognition each
    rests on."""
    where: list[Any] = [X.year == year, X.state == "recognized"]
    scope = scope_clause(official.jurisdiction, exemplary_titles)
    if scope is not None:
        where.append(scope)
    if commune:
        where.append(X.commune_code == commune)
    titles = title_repo.select(session, *where, order_by=(X.province_code, X.commune_code, X.kind, X.unit_code))
    names = commune_names(session, {t.commune_code for t in titles if t.commune_code})
    out = []
    for t in titles:
        d = _recognition(t)
        out.append(
            {
                "unit_code": t.unit_code,
                "name": t.unit.get("name", t.unit_code),
                "kind": labels.KIND.get(t.kind, t.kind),
                "commune": names.get(t.commune_code or "", t.commune_code or ""),
                "province_code": t.province_code,
                "year": t.year,
                "level": labels.LEVEL.get(d.get("level", ""), d.get("level", "")),
                "body": d.get("body", ""),
                "decision_no": d.get("decision_no") or "",
                "decided_on": d.get("decided_on") or "",
                "certificate_no": d.get("certificate_no") or "",
                "decided_by": d.get("decided_by") or "",
                "antt_decision_no": t.antt_decision_no or "",
            }
        )
    return out
