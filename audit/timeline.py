"""``history`` and ``as-of``: what happened to a unit-year, and where things stood at a moment.

Both are folded from the events alone (never from a service's database): the events of the
three services about a unit-year, ordered by ``recorded_at`` (then producer and sequence), and
for ``as-of`` only those recorded at or before the moment asked. The states are replayed with
the services' lifecycle tables (``shared.contracts.lifecycle``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from shared.contracts.lifecycle import LIFECYCLES

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
}
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

    @property
    def state(self) -> str | None:
        """The state of the unit-year: the approval lifecycle's (the canonical one), else what
        the earlier services know."""
        for p in ("approval", "registration"):
            if self.states.get(p):
                return self.states[p]
        return None

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
        indexes = {p: lc.index() for p, lc in LIFECYCLES.items()}
        for env in self.events_of(unit_year_id):
            if until is not None and recorded(env) > until:
                break
            st.events += 1
            producer = str(env.get("producer") or "")
            payload = env.get("payload") or {}
            lc = LIFECYCLES.get(producer)
            if lc is not None:
                trig = lc.trigger_for(env.get("event_type", ""), payload)
                if trig == "":
                    st.states[producer] = lc.initial
                elif trig is not None and (current := st.states.get(producer)) is not None:
                    st.states[producer] = indexes[producer].get((current, trig), current)
            if isinstance(payload.get("state"), str) and producer == "approval":
                st.states["approval"] = payload["state"]
            if isinstance(payload.get("unit"), dict):
                st.unit.update(payload["unit"])
            if env.get("event_type") in (
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
            st.last_event_type = env.get("event_type")
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
        ("outcome", "kết quả (outcome)"),
        ("reason", "lý do (reason)"),
        ("state", "trạng thái (state)"),
    ):
        v = p.get(key)
        if v not in (None, "", []):
            if key == "state":
                v = f"{v} ({STATE_LABELS.get(v, v)})"
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
    if t == "ApprovalCaseOpened":
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


def history(folder: Folder, unit_year_id: str) -> list[dict[str, Any]]:
    """The unit-year's timeline across the three services."""
    return [
        {
            "recorded_at": e.get("recorded_at"),
            "occurred_at": e.get("occurred_at"),
            "producer": e.get("producer"),
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
        lines.append(f"{it['recorded_at']}  [{it['producer']} #{it['sequence']}]  {it['label']} ({it['event_type']})")
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
        rows.append(row)
    return rows


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=AS_OF_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()
