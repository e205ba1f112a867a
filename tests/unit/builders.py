"""Builders shared by the unit tests: units, signed inbound messages, Kafka records, envelopes."""

from __future__ import annotations

import json
from typing import Any

from services.assessment.domain.criteria import load_catalog
from shared.contracts import topics
from shared.contracts.envelope import build_envelope
from shared.contracts.inbound import new_message
from shared.infra.consumer import Received
from shared.infra.settings import Sender

PROVINCE = "51"  # Quảng Ngãi
COMMUNE = "51001"
YEAR = 2025

SENDER = "dvc-quang-ngai"
SENDER_KEY = "test-key-quang-ngai-0123456789abcdef"
NATIONAL = "dvc-national"
NATIONAL_KEY = "test-key-national-0123456789abcdef"

SENDERS: dict[str, Sender] = {
    SENDER: Sender(key=SENDER_KEY, jurisdiction=[f"province:{PROVINCE}"], name="Cổng DVC Quảng Ngãi"),
    NATIONAL: Sender(key=NATIONAL_KEY, jurisdiction=["*"], name="Cổng DVC quốc gia"),
}

OFFICER = {"id": "officer@quang-ngai", "role": "officer", "jurisdiction": f"province:{PROVINCE}"}


def senders_json() -> str:
    return json.dumps({name: s.model_dump() for name, s in SENDERS.items()}, ensure_ascii=False)


def unit(
    code: str = "QN-KDC-001",
    kind: str = "residential_area",
    *,
    name: str = "Tổ dân phố Phú Đình 1",
    province_code: str = PROVINCE,
    commune_code: str | None = COMMUNE,
    managing_level: str = "commune",
    **attributes: Any,
) -> dict[str, Any]:
    return {
        "code": code,
        "name": name,
        "kind": kind,
        "province_code": province_code,
        "commune_code": commune_code,
        "district_code": None,
        "managing_level": managing_level,
        "attributes": attributes,
    }


def all_criteria(kind: str, *, unmet: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [{"code": c, "met": c not in unmet, "note": None} for c in load_catalog(kind).codes()]


def message(
    event_type: str,
    payload: dict[str, Any],
    *,
    sender: str = SENDER,
    key: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """A signed inbound message (the sender's key unless ``key`` is given)."""
    return new_message(
        event_type,
        payload,
        source_system=sender,
        key=key or SENDERS[sender].key,
        actor=kw.pop("actor", OFFICER),
        **kw,
    )


def to_bytes(value: dict[str, Any] | list[Any] | str) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def received(
    value: bytes | dict[str, Any],
    *,
    topic: str = topics.INBOUND,
    partition: int = 0,
    offset: int = 0,
    key: bytes | None = b"QN-KDC-001",
    headers: dict[str, bytes] | None = None,
) -> Received:
    raw = value if isinstance(value, bytes) else to_bytes(value)
    return Received(topic=topic, partition=partition, offset=offset, key=key, value=raw, headers=headers or {})


class Stream:
    """Hash-chained envelopes of one stream and producer, as another service would publish them."""

    def __init__(self, producer: str, unit_year_id: str, *, correlation_id: str = "corr-1") -> None:
        self.producer = producer
        self.unit_year_id = unit_year_id
        self.correlation_id = correlation_id
        self.events: list[dict[str, Any]] = []

    def next(self, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        prev = self.events[-1] if self.events else None
        env = build_envelope(
            event_type=event_type,
            payload=payload,
            producer=self.producer,
            actor=OFFICER,
            stream_id=self.unit_year_id,
            unit_year_id=self.unit_year_id,
            sequence=len(self.events) + 1,
            prev_hash=prev["hash"] if prev else None,
            correlation_id=self.correlation_id,
            causation_id=prev["event_id"] if prev else None,
        )
        self.events.append(env)
        return env
