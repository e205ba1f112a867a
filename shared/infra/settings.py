"""Settings common to every service (pydantic-settings, environment prefix ``ANTT_``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[2]


class Sender(BaseModel):
    """An external system allowed to publish to ``antt.inbound.v1``."""

    key: str = Field(min_length=16)
    jurisdiction: list[str] = Field(default_factory=lambda: ["*"])
    name: str | None = None


class ApiToken(BaseModel):
    """A bearer token of the HTTP API and the actor it stands for."""

    id: str
    role: str
    jurisdiction: str = "*"


class ServiceSettings(BaseSettings):
    """Base settings; each service subclasses it with its own defaults."""

    model_config = SettingsConfigDict(env_prefix="ANTT_", env_nested_delimiter="__", extra="ignore")

    service_name: str = "service"
    kafka_bootstrap: str = "127.0.0.1:9092"
    database_url: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    instance_id: str = ""
    #: JSON file of senders: {"<source_system>": {"key": "...", "jurisdiction": ["province:51"]}}
    senders_file: Path = ROOT / "deploy" / "config" / "senders.json"
    #: JSON file of API tokens: {"<token>": {"id": "...", "role": "...", "jurisdiction": "*"}}
    api_tokens_file: Path = ROOT / "deploy" / "config" / "api_tokens.json"
    consumer_max_records: int = 500
    #: the broker holds a fetch until this many bytes are there or the wait is over (larger
    #: batches, fewer transactions, at the cost of up to ``consumer_fetch_max_wait_ms`` of delay)
    consumer_fetch_min_bytes: int = 1
    consumer_fetch_max_wait_ms: int = 500
    consumer_max_attempts: int = 3
    relay_batch_size: int = 500
    relay_poll_interval_s: float = 0.2
    relay_lease_ttl_s: float = 10.0
    #: how often the relay leader signs a checkpoint of its event topic, when the topic moved
    checkpoint_interval_s: float = 10.0
    #: where a service keeps a generated checkpoint key (``<service>.ed25519``) and writes its
    #: public key (``<service>.pub``), the folder auditors load with ``PublicKeys.load``
    keys_dir: Path = ROOT / "var" / "keys"
    #: the Ed25519 private key (PEM, PKCS#8) that signs checkpoints; when set it must exist
    #: (a production key is provisioned, never generated); unset: ``<keys_dir>/<service>.ed25519``
    checkpoint_key_file: Path | None = None
    log_json: bool | None = None
    log_level: str = "INFO"
    migrate_on_start: bool = True
    #: run even when a project topic would delete records (finite retention): the auditors'
    #: history would then be incomplete, so the default is to refuse to start
    allow_finite_retention: bool = False
    #: how long an HTTP command or read waits for a locked SQLite database (or a PostgreSQL row
    #: lock) before it answers 503 ``database_busy`` with ``Retry-After``; consumers keep the long
    #: wait (30 s): a batch that waits loses nothing, a caller that waits half a minute gives up
    http_db_busy_timeout_s: float = 2.0
    #: ``/ready`` is 503 (``relay_failing``) once the relay has failed without a success this long
    ready_relay_failure_s: float = 30.0
    #: ``/ready`` is 503 (``outbox_stale``) while the oldest unpublished outbox row is older
    ready_outbox_age_s: float = 60.0
    #: ``/ready`` is 503 (``consumer_stuck``) once a topic's batches have failed this long
    #: without one committing: the consumer re-reads the same records and makes no progress
    ready_consumer_failure_s: float = 30.0
    #: how long ``/ready`` waits for the broker's metadata, and how long it reuses the answer
    ready_broker_timeout_s: float = 2.0
    ready_broker_cache_s: float = 3.0
    #: ``development`` (default) or ``production``, from ``ANTT_ENVIRONMENT``: one variable for the
    #: whole deployment, not one per service. In production a service refuses to start with the
    #: development tokens and sender keys of ``deploy/config/`` (``shared.infra.production``)
    environment: str = Field(default="development", validation_alias=AliasChoices("environment", "ANTT_ENVIRONMENT"))
    #: how long a message about a unit or unit-year not known yet is held (parked) waiting for
    #: the event that announces it, before it is dead-lettered (``expired_waiting_for_...``)
    parking_ttl_s: float = 3600.0
    #: how often parked messages are looked at without a wake-up (retries after a race with the
    #: announcing transaction, expiry); a commit that writes events wakes them at once
    parking_sweep_interval_s: float = 5.0
    #: how long the first answer of an HTTP write sent with an ``Idempotency-Key`` is kept
    idempotency_key_ttl_s: float = 7 * 24 * 3600.0

    def default_sqlite(self) -> str:
        return f"sqlite+aiosqlite:///{ROOT / 'var' / f'{self.service_name}.db'}"

    def db_url(self) -> str:
        return self.database_url or self.default_sqlite()

    def load_senders(self) -> dict[str, Sender]:
        return {k: Sender.model_validate(v) for k, v in _read_json(self.senders_file).items()}

    def load_api_tokens(self) -> dict[str, ApiToken]:
        return {k: ApiToken.model_validate(v) for k, v in _read_json(self.api_tokens_file).items()}


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data
