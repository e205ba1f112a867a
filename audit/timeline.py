"""``history`` and ``as-of``: what happened to a unit-year, and where things stood at a moment.

Both are folded from the events alone (never from a service's database): the events of the
three services about a unit-year, ordered by ``recorded_at`` (then producer and sequence), and
for ``as-of`` only those recorded at or before the moment asked. The states are replayed with
the services' lifecycle tables (``shared.contracts.lifecycle``), each stream through the table
of its track: a unit-year's ANTT stream and, for an agency, enterprise or school proposed for
the exemplary title (điển hình), its ``exemplary:<unit_year_id>`` stream, whose state is shown
beside the ANTT one and never mixed into it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from shared.contracts.lifecycle import EXEMPLARY_LIFECYCLES, EXEMPLARY_STREAM, LIFECYCLES, Lifecycle, lifecycle_for

#: Vietnamese labels officials recognise from their own paperwork
LABELS = {
    "UnitRegistered": "Đăng ký đơn vị",
    "UnitUpdated": "Cập nhật thông tin đơn vị",
    "UnitYearRegistered": "Đăng ký phấn đấu đạt chuẩn ANTT",
    "UnitYearWithdrawn": "Rút đăng ký",
    "AssessmentOpened": "Mở hồ sơ tự đánh giá",
    "SelfAssessmentRecorded": "Ghi nhận kết quả tự đánh giá",
    "AssessmentReopened": "Mở lại tự đánh giá (bổ sung hồ sơ)",
    "AssessmentClosed": "Đóng hồ sơ đánh giá",
    "IncidentRecorded": "Ghi nhận vụ việc",
    "ApprovalCaseOpened": "Mở hồ sơ xét công nhận",
    "UnitYearSelfScored": "Chuyển thẩm định",
    "UnitYearReviewed": "Thẩm định đạt",
    "UnitYearRecognized": "Quyết định công nhận đạt chuẩn ANTT",
    "UnitYearNotRecognized": "Không công nhận",
    "UnitYearReturned": "Trả lại để bổ sung",
    "ApprovalCaseWithdrawn": "Đóng hồ sơ do rút đăng ký",
    "UnitYearRevoked": "Thu hồi quyết định công nhận",
    "IncidentFlagged": "Cảnh báo vụ việc sau công nhận",
    "VerdictChanged": "Thay đổi kết quả đánh giá",
    "CaseClaimed": "Nhận xử lý hồ sơ",
    "CaseReleased": "Trả lại quyền xử lý hồ sơ",
    "CaseReassigned": "Giao lại người xử lý hồ sơ",
    "MovementClassificationRecorded": "Phân loại phong trào toàn dân bảo vệ ANTQ",
    # the exemplary track (điển hình, kiểu mẫu về ANTT và phong trào toàn dân bảo vệ ANTQ)
    "ExemplaryCaseOpened": "Đề nghị xét công nhận điển hình",
    "ExemplarySelfAssessmentRecorded": "Ghi nhận tự đánh giá tiêu chuẩn điển hình",
    "ExemplaryEvaluationRevised": "Đánh giá lại tiêu chuẩn điển hình",
    "ExemplaryCaseReopened": "Mở lại hồ sơ điển hình (bổ sung hồ sơ)",
    "ExemplaryCaseClosed": "Đóng hồ sơ điển hình",
    "ExemplaryTitleCaseOpened": "Mở hồ sơ xét công nhận điển hình",
    "ExemplaryTitleSelfScored": "Chuyển thẩm định điển hình",
    "ExemplaryTitleReviewed": "Thẩm định điển hình đạt",
    "ExemplaryTitleRecognized": "Quyết định công nhận điển hình, kiểu mẫu về ANTT",
    "ExemplaryTitleNotRecognized": "Không công nhận điển hình",
    "ExemplaryTitleReturned": "Trả lại hồ sơ điển hình để bổ sung",
    "ExemplaryTitleVerdictChanged": "Thay đổi kết quả đánh giá điển hình",
    "ExemplaryTitleRevoked": "Thu hồi danh hiệu điển hình",
    "ExemplaryTitleLapsed": "Hồ sơ điển hình hết căn cứ (công nhận ANTT không còn)",
    "ExemplaryTitleClaimed": "Nhận xử lý hồ sơ điển hình",
    "ExemplaryTitleReleased": "Trả lại quyền xử lý hồ sơ điển hình",
    "ExemplaryTitleReassigned": "Giao lại người xử lý hồ sơ điển hình",
}
STATE_LABELS = {
    "registered": "đã đăng ký",
    "self_scored": "đã tự đánh giá",
    "commune_reviewed": "cấp xã đã thẩm định",
    "district_reviewed": "cấp huyện đã thẩm định",
    "province_reviewed": "cấp tỉnh đã thẩm định",
    "ministry_reviewed": "cấp Bộ đã thẩm định",
    "recognized": "được công nhận",
    "not_recognized": "không được công nhận",
    "returned": "trả lại bổ sung",
    "withdrawn": "đã rút",
    "revoked": "bị thu hồi",
    # the exemplary track
    "proposed": "đã đề nghị",
    "self_assessed": "đã tự đánh giá",
    "closed": "đã đóng",
    "lapsed": "hết căn cứ",
}
#: the exemplary title's decisions, whose details the unit-year's row shows
EXEMPLARY_DECISIONS = (
    "ExemplaryTitleReviewed",
    "ExemplaryTitleRecognized",
    "ExemplaryTitleNotRecognized",
    "ExemplaryTitleReturned",
    "ExemplaryTitleRevoked",
)
BECAUSE_LABELS = {"decision": "quyết định thu hồi riêng", "antt_revoked": "thu hồi theo công nhận ANTT"}
ROLE_LABELS: dict[Any, str] = {"review": "thẩm định (review)", "decide": "công nhận (decide)"}
LEVEL_LABELS: dict[Any, str] = {"commune": "cấp xã", "district": "cấp huyện", "province": "cấp tỉnh", "ministry": "cấp Bộ"}


def parse_moment(text: str, tz: timezone) -> datetime:
    """An RFC 3339 moment, or a date meaning the end of that day in ``tz`` (the officials'
    day: "recognised on 20 Nov" includes the decisions of 20 Nov)."""
    text = text.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime.combine(d, time.max, tzinfo=tz).astimezone(UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither a date (YYYY-MM-DD) nor an RFC 3339 moment") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


def parse_tz(text: str) -> timezone:
    """``+07:00``, ``-05:00`` or ``UTC``/``Z``."""
    if text.upper() in ("UTC", "Z"):
        return UTC
    sign = -1 if text.startswith("-") else 1
    hh, _, mm = text.lstrip("+-").partition(":")
    return timezone(sign * timedelta(hours=int(hh), minutes=int(mm or 0)))


def recorded(env: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(env["recorded_at"]).replace("Z", "+00:00"))


def order_key(env: dict[str, Any]) -> tuple[Any, ...]:
    return (str(env.get("recorded_at")), str(env.get("producer")), env.get("sequence") or 0)


@dataclass
class UnitYearState:
    unit_year_id: str
    unit: dict[str, Any] = field(default_factory=dict)
    year: int | None = None
    states: dict[str, str | None] = field(default_factory=lambda: {p: None for p in LIFECYCLES})
    last_event_at: str | None = None
    last_event_type: str | None = None
    level: str | None = None
    decision_no: str | None = None
    certificate_no: str | None = None
    decided_by: str | None = None
    events: int = 0
    #: the exemplary track's state in each of its producers (None: no such stream)
    exemplary_states: dict[str, str | None] = field(default_factory=lambda: {p: None for p in EXEMPLARY_LIFECYCLES})
    exemplary_level: str | None = None
    exemplary_decision_no: str | None = None
    exemplary_certificate_no: str | None = None
    exemplary_decided_by: str | None = None
    #: why the title was revoked: decision (its own) | antt_revoked (with the ANTT recognition)
    exemplary_revoked_because: str | None = None
    movement_rating: str | None = None

    @property
    def state(self) -> str | None:
        """The state of the unit-year: the approval lifecycle's (the canonical one), else what
        the earlier services know."""
        for p in ("approval", "registration"):
            if self.states.get(p):
                return self.states[p]
        return None

    @property
    def exemplary_state(self) -> str | None:
        """The exemplary title's state: the approval service's (the title's case), else the
        assessment service's (proposed, self-assessed); None for a unit-year never proposed."""
        return self.exemplary_states.get("approval") or self.exemplary_states.get("assessment")

    def row(self) -> dict[str, Any]:
        return {
            "unit_year_id": self.unit_year_id,
            "unit_code": self.unit.get("code") or self.unit_year_id.rsplit(":", 1)[0],
            "unit_name": self.unit.get("name"),
            "kind": self.unit.get("kind"),
            "province_code": self.unit.get("province_code"),
            "district_code": self.unit.get("district_code"),
            "commune_code": self.unit.get("commune_code"),
            "year": self.year,
            "state": self.state,
            "state_vi": STATE_LABELS.get(self.state or "", self.state),
            "registration_state": self.states.get("registration"),
            "assessment_state": self.states.get("assessment"),
            "approval_state": self.states.get("approval"),
            "level": self.level,
            "decision_no": self.decision_no,
            "certificate_no": self.certificate_no,
            "decided_by": self.decided_by,
            "movement_rating": self.movement_rating,
            "exemplary_state": self.exemplary_state,
            "exemplary_state_vi": STATE_LABELS.get(self.exemplary_state or "", self.exemplary_state),
            "exemplary_assessment_state": self.exemplary_states.get("assessment"),
            "exemplary_approval_state": self.exemplary_states.get("approval"),
            "exemplary_level": self.exemplary_level,
            "exemplary_decision_no": self.exemplary_decision_no,
            "exemplary_certificate_no": self.exemplary_certificate_no,
            "exemplary_decided_by": self.exemplary_decided_by,
            "exemplary_revoked_because": self.exemplary_revoked_because,
            "last_event_type": self.last_event_type,
            "last_event_at": self.last_event_at,
            "events": self.events,
        }


class Folder:
    """Folds events (any order; they are sorted per unit-year) into unit-year states."""

    def __init__(self) -> None:
        self.by_unit_year: dict[str, list[dict[str, Any]]] = {}
        self.units: dict[str, dict[str, Any]] = {}

    def add(self, env: dict[str, Any]) -> None:
        uy = env.get("unit_year_id")
        if isinstance(uy, str) and uy:
            self.by_unit_year.setdefault(uy, []).append(env)
        elif env.get("event_type") in ("UnitRegistered", "UnitUpdated"):
            unit = (env.get("payload") or {}).get("unit")
            if isinstance(unit, dict) and unit.get("code"):
                self.units.setdefault(unit["code"], {}).update(unit)

    def events_of(self, unit_year_id: str) -> list[dict[str, Any]]:
        evs = sorted(self.by_unit_year.get(unit_year_id, []), key=order_key)
        return evs

    def fold(self, unit_year_id: str, until: datetime | None = None) -> UnitYearState | None:
        st = UnitYearState(unit_year_id)
        code = unit_year_id.rsplit(":", 1)[0]
        st.unit = dict(self.units.get(code, {}))
        try:
            st.year = int(unit_year_id.rsplit(":", 1)[1])
        except (IndexError, ValueError):
            st.year = None
        indexes: dict[int, dict[tuple[str, str], str]] = {}
        for env in self.events_of(unit_year_id):
            if until is not None and recorded(env) > until:
                break
            st.events += 1
            producer = str(env.get("producer") or "")
            payload = env.get("payload") or {}
            etype = env.get("event_type")
            stream = str(env.get("stream_id") or "")
            # each track's states apart: the stream's own table (lifecycle_for)
            states = st.exemplary_states if stream.startswith(EXEMPLARY_STREAM) else st.states
            lc: Lifecycle | None = lifecycle_for(producer, stream)
            if lc is not None and producer in states:
                trig = lc.trigger_for(etype or "", payload)
                if trig == "":
                    states[producer] = lc.initial
                elif trig is not None and (current := states.get(producer)) is not None:
                    idx = indexes.get(id(lc))
                    if idx is None:
                        idx = indexes[id(lc)] = lc.index()
                    states[producer] = idx.get((current, trig), current)
                if isinstance(payload.get("state"), str) and producer == "approval":
                    states["approval"] = payload["state"]
            if isinstance(payload.get("unit"), dict):
                st.unit.update(payload["unit"])
            if etype == "MovementClassificationRecorded":
                st.movement_rating = payload.get("rating") or st.movement_rating
            elif etype in EXEMPLARY_DECISIONS:
                st.exemplary_level = payload.get("level", st.exemplary_level)
                st.exemplary_decision_no = payload.get("decision_no") or st.exemplary_decision_no
                st.exemplary_decided_by = payload.get("decided_by") or st.exemplary_decided_by
                st.exemplary_certificate_no = payload.get("certificate_no") or st.exemplary_certificate_no
                if etype == "ExemplaryTitleRevoked":
                    st.exemplary_revoked_because = payload.get("because_of")
            elif etype == "ExemplarySelfAssessmentRecorded":
                st.movement_rating = payload.get("movement_rating") or st.movement_rating
            if etype in (
                "UnitYearRecognized",
                "UnitYearReviewed",
                "UnitYearNotRecognized",
                "UnitYearReturned",
                "UnitYearRevoked",
            ):
                st.level = payload.get("level", st.level)
                st.decision_no = payload.get("decision_no") or st.decision_no
                st.decided_by = payload.get("decided_by") or st.decided_by
                st.certificate_no = payload.get("certificate_no") or st.certificate_no
            st.last_event_at = env.get("recorded_at")
            st.last_event_type = etype
        return st if st.events else None


# --------------------------------------------------------------------------- history


def describe(env: dict[str, Any]) -> list[str]:
    """The details of an event a person wants to see, one per line."""
    p = env.get("payload") or {}
    t = env.get("event_type")
    out: list[str] = []
    if "level" in p:
        out.append(f"cấp (level): {LEVEL_LABELS.get(p['level'], p['level'])}")
    for key, label in (
        ("deciding_body", "cơ quan quyết định (deciding body)"),
        ("decided_by", "người quyết định (decided by)"),
        ("decision_no", "số quyết định (decision no.)"),
        ("decided_on", "ngày quyết định (decided on)"),
        ("certificate_no", "số giấy chứng nhận (certificate no.)"),
        ("verdict", "kết quả (verdict)"),
        ("score", "điểm tự chấm (score)"),
        ("pending_level", "chờ cấp (pending level)"),
        ("deadline", "hạn (deadline)"),
        ("chain_profile", "quy trình (chain profile)"),
        ("criteria_catalog", "bộ tiêu chí (criteria catalog)"),
        ("antt_decision_no", "quyết định công nhận ANTT (ANTT decision no.)"),
        ("proposed_by", "đơn vị đề nghị (proposed by)"),
        ("rating", "xếp loại phong trào (movement rating)"),
        ("movement_rating", "xếp loại phong trào (movement rating)"),
        ("classified_by", "người xếp loại (classified by)"),
        ("because_of", "căn cứ thu hồi (because of)"),
        ("outcome", "kết quả (outcome)"),
        ("reason", "lý do (reason)"),
        ("state", "trạng thái (state)"),
    ):
        v = p.get(key)
        if v not in (None, "", []):
            if key == "state":
                v = f"{v} ({STATE_LABELS.get(v, v)})"
            elif key == "because_of":
                v = f"{v} ({BECAUSE_LABELS.get(v, v)})"
            out.append(f"{label}: {v}")
    if p.get("unmet"):
        out.append(f"tiêu chí chưa đạt (unmet): {', '.join(map(str, p['unmet']))}")
    for r in p.get("reasons") or []:
        out.append(f"lý do (reason): {r}")
    for d in p.get("documents") or []:
        if isinstance(d, dict):
            out.append(
                f"tài liệu (document): {d.get('kind')} {d.get('ref')}" + (f", {d['issued_on']}" if d.get("issued_on") else "")
            )
    if t in ("ApprovalCaseOpened", "ExemplaryTitleCaseOpened"):
        for s in p.get("chain") or []:
            if isinstance(s, dict):
                role = ROLE_LABELS.get(s.get("role"), s.get("role"))
                out.append(f"bước (step): {LEVEL_LABELS.get(s.get('level'), s.get('level'))}, {role} — {s.get('body')}")
    if t in ("IncidentRecorded", "IncidentFlagged"):
        for key, label in (
            ("incident_id", "vụ việc (incident)"),
            ("category", "loại (category)"),
            ("occurred_on", "ngày xảy ra (occurred on)"),
            ("severity", "mức độ (severity)"),
            ("effect", "ảnh hưởng (effect)"),
            ("criterion", "tiêu chí (criterion)"),
        ):
            if p.get(key) not in (None, ""):
                out.append(f"{label}: {p[key]}")
    return out


def track_of(env: dict[str, Any]) -> str:
    """``exemplary`` for an event of a unit-year's exemplary track, else ``antt``."""
    return "exemplary" if str(env.get("stream_id") or "").startswith(EXEMPLARY_STREAM) else "antt"


def history(folder: Folder, unit_year_id: str) -> list[dict[str, Any]]:
    """The unit-year's timeline across the three services, both tracks in the order recorded."""
    return [
        {
            "recorded_at": e.get("recorded_at"),
            "occurred_at": e.get("occurred_at"),
            "producer": e.get("producer"),
            "track": track_of(e),
            "stream_id": e.get("stream_id"),
            "event_type": e.get("event_type"),
            "label": LABELS.get(e.get("event_type", ""), e.get("event_type")),
            "sequence": e.get("sequence"),
            "event_id": e.get("event_id"),
            "actor": e.get("actor"),
            "causation_id": e.get("causation_id"),
            "details": describe(e),
            "payload": e.get("payload"),
        }
        for e in folder.events_of(unit_year_id)
    ]


def render_history(unit_year_id: str, items: list[dict[str, Any]], unit: dict[str, Any]) -> str:
    lines = [f"Lịch sử / History of {unit_year_id}"]
    if unit:
        lines.append(
            f"  {unit.get('name', '')} ({unit.get('kind', '')}), tỉnh {unit.get('province_code')}, "
            f"xã {unit.get('commune_code')}, quản lý {LEVEL_LABELS.get(unit.get('managing_level'), unit.get('managing_level'))}"
        )
    lines.append("")
    for it in items:
        a = it.get("actor") or {}
        track = "  [điển hình / exemplary]" if it.get("track") == "exemplary" else ""
        lines.append(f"{it['recorded_at']}  [{it['producer']} #{it['sequence']}]{track}  {it['label']} ({it['event_type']})")
        lines.append(f"    người thực hiện (actor): {a.get('id')} — {a.get('role')}, thẩm quyền {a.get('jurisdiction')}")
        for d in it["details"]:
            lines.append(f"    {d}")
    if not items:
        lines.append("  (no event of this unit-year on the topics)")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- as-of

AS_OF_COLUMNS = (
    "unit_year_id",
    "unit_code",
    "unit_name",
    "kind",
    "province_code",
    "district_code",
    "commune_code",
    "year",
    "state",
    "state_vi",
    "registration_state",
    "assessment_state",
    "approval_state",
    "level",
    "decision_no",
    "certificate_no",
    "decided_by",
    "movement_rating",
    "exemplary_state",
    "exemplary_state_vi",
    "exemplary_assessment_state",
    "exemplary_approval_state",
    "exemplary_level",
    "exemplary_decision_no",
    "exemplary_certificate_no",
    "exemplary_decided_by",
    "exemplary_revoked_because",
    "last_event_type",
    "last_event_at",
    "events",
)


def as_of(
    folder: Folder,
    until: datetime,
    *,
    unit_year: str | None = None,
    province: str | None = None,
    commune: str | None = None,
    year: int | None = None,
    state: str | None = None,
    exemplary_state: str | None = None,
) -> list[dict[str, Any]]:
    ids: Iterable[str] = [unit_year] if unit_year else sorted(folder.by_unit_year)
    rows = []
    for uy in ids:
        st = folder.fold(uy, until)
        if st is None:
            continue
        row = st.row()
        if province and row["province_code"] != province:
            continue
        if commune and row["commune_code"] != commune:
            continue
        if year and row["year"] != year:
            continue
        if state and row["state"] != state:
            continue
        if exemplary_state and row["exemplary_state"] != exemplary_state:
            continue
        rows.append(row)
    return rows


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=AS_OF_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()
