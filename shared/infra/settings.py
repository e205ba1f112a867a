"""Settings common to every service (pydantic-settings, environment prefix ``ANTT_``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[2]


class Sender(BaseModel):
    """An external system allowed to publish to ``antt.inbound.v1``."""

    key: str = Field(min_length=16)
    jurisdiction: list[str] = Field(default_factory=lambda: ["*"])
    name: str | None = None


class ApiToken(BaseModel):
    """A bearer token of the HTTP API and the actor it stands for.

    ``name`` and ``level`` are optional: a token whose role is an official's (``appraise``,
    ``decide``, ``follow``, ``supervise``) is also a development official the console's
    development sign-in lists.
    """

    id: str
    role: str
    jurisdiction: str = "*"
    name: str | None = None
    level: str | None = None


#: the identity provider's settings, when a deployment keeps them beside the other config files
DEFAULT_OIDC_FILE = ROOT / "deploy" / "config" / "oidc.json"

#: the session secret a development checkout ships with; a production service refuses it
DEV_SESSION_SECRET = "antt-development-session-secret-not-for-production"


class ClaimMapping(BaseModel):
    """How the identity provider's token claims become an official's role, level and jurisdiction.

    Each ``*_claim`` names a claim (a dotted path such as ``realm_access.roles`` reaches into
    nested objects; a list claim is searched for the first value the map knows). Each map turns
    the provider's values into ours; a value absent from a map is used as it is when it is
    already one of ours (a role such as ``decide``, a jurisdiction such as ``commune:22117``),
    and otherwise the token is refused with a reason.
    """

    id_claim: str = "sub"
    name_claim: str = "name"
    role_claim: str = "antt_role"
    level_claim: str = "antt_level"
    jurisdiction_claim: str = "antt_jurisdiction"
    #: provider value -> ``appraise`` / ``decide`` / ``follow`` / ``supervise``
    role_map: dict[str, str] = Field(default_factory=dict)
    #: provider value -> ``commune`` / ``district`` / ``province`` / ``ministry``
    level_map: dict[str, str] = Field(default_factory=dict)
    #: provider value (e.g. an organisation id) -> ``province:51``, ``commune:22117``, ...
    jurisdiction_map: dict[str, str] = Field(default_factory=dict)
    #: for a value in neither form: a template with ``{value}`` and ``{level}`` (the mapped
    #: level claim), e.g. ``"{level}:{value}"`` turns level ``commune`` and code ``22117`` into
    #: ``commune:22117`` without listing every commune in ``jurisdiction_map``
    jurisdiction_format: str = ""


class OidcSettings(BaseModel):
    """The province's OpenID Connect provider (browser sign-in and JWT bearer tokens).

    Empty ``issuer``: no provider; the API takes only the development tokens and the console
    has no ``/console/auth`` routes.
    """

    #: the ``iss`` of its tokens; discovery is ``<issuer>/.well-known/openid-configuration``
    issuer: str = ""
    #: the ``aud`` a bearer token must carry (default: ``client_id``)
    audience: str = ""
    client_id: str = ""
    client_secret: str = ""
    #: the JWKS address (default: ``jwks_uri`` of the discovery document)
    jwks_uri: str = ""
    scope: str = "openid profile"
    #: the callback address registered at the provider (default: this request's
    #: ``/console/auth/callback``; set it behind a reverse proxy)
    redirect_uri: str = ""
    #: accepted signature algorithms (never ``none``, never HMAC with a public key)
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "PS256", "ES256", "EdDSA"])
    #: clock skew tolerated on ``exp`` / ``nbf`` / ``iat`` (seconds)
    leeway_s: int = 60
    #: how long a fetched JWKS is trusted before it is fetched again (an unknown ``kid`` refetches at once)
    jwks_cache_s: float = 300.0
    #: at most one refetch for an unknown ``kid`` per this many seconds (a flood of made-up kids
    #: must not become a flood of requests to the provider)
    jwks_min_refetch_s: float = 10.0
    http_timeout_s: float = 5.0
    claims: ClaimMapping = Field(default_factory=ClaimMapping)

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    def expected_audience(self) -> str:
        return self.audience or self.client_id


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
    #: ``development`` or ``production`` (``prod``). ``ANTT_ENVIRONMENT`` sets it for every
    #: service of a deployment, ``ANTT_<SERVICE>_ENVIRONMENT`` for one. Production refuses the
    #: development session secret, and the development tokens and sender keys of
    #: ``deploy/config/`` (``shared.infra.production``)
    environment: str = "development"
    #: signs the console's session cookie (itsdangerous); set a long random value in production
    session_secret: str = DEV_SESSION_SECRET
    session_cookie: str = "antt_session"
    session_max_age_s: int = 8 * 3600
    #: send the session cookie over HTTPS only (always on in production)
    session_https_only: bool = False
    #: the identity provider; ``ANTT_<SERVICE>_OIDC__ISSUER`` etc., or a JSON file (below)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    #: a JSON file with the ``oidc`` section, one for the three services; unset: ``deploy/
    #: config/oidc.json`` when that file exists. When a file is used it wins over ``oidc``.
    oidc_file: Path | None = None
    #: how long a message about a unit or unit-year not known yet is held (parked) waiting for
    #: the event that announces it, before it is dead-lettered (``expired_waiting_for_...``)
    parking_ttl_s: float = 3600.0
    #: how often parked messages are looked at without a wake-up (retries after a race with the
    #: announcing transaction, expiry); a commit that writes events wakes them at once
    parking_sweep_interval_s: float = 5.0
    #: how long the first answer of an HTTP write sent with an ``Idempotency-Key`` is kept
    idempotency_key_ttl_s: float = 7 * 24 * 3600.0

    @model_validator(mode="after")
    def _deployment_environment(self) -> ServiceSettings:
        """``ANTT_ENVIRONMENT`` when the service's own variable does not say otherwise."""
        if "environment" not in self.model_fields_set:
            deployment = os.environ.get("ANTT_ENVIRONMENT", "").strip()
            if deployment:
                self.environment = deployment
        return self

    @property
    def is_production(self) -> bool:
        return self.environment.strip().lower() in ("production", "prod")

    def identity_provider(self) -> OidcSettings:
        """The configured provider: ``oidc_file`` (which must then exist), else
        ``deploy/config/oidc.json`` if it exists, else ``oidc``."""
        if self.oidc_file is not None:
            return OidcSettings.model_validate(_read_json(self.oidc_file, required=True))
        if DEFAULT_OIDC_FILE.exists():
            return OidcSettings.model_validate(_read_json(DEFAULT_OIDC_FILE))
        return self.oidc

    def default_sqlite(self) -> str:
        return f"sqlite+aiosqlite:///{ROOT / 'var' / f'{self.service_name}.db'}"

    def db_url(self) -> str:
        return self.database_url or self.default_sqlite()

    def load_senders(self) -> dict[str, Sender]:
        return {k: Sender.model_validate(v) for k, v in _read_json(self.senders_file).items()}

    def load_api_tokens(self) -> dict[str, ApiToken]:
        return {k: ApiToken.model_validate(v) for k, v in _read_json(self.api_tokens_file).items()}


def _read_json(path: Path, *, required: bool = False) -> dict[str, Any]:
    if not path.exists():
        if required:
            raise FileNotFoundError(f"{path}: configured but missing")
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data
