"""Production refuses the development tokens and keys of ``deploy/config/``.

The refusal is tested on a real service process (``python -m services.<name>``): it logs
``config.development_secrets`` and exits with 78 before it connects to anything, so no broker or
database is needed here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.registration.settings import RegistrationSettings
from shared.infra import production
from shared.infra.settings import ROOT

DEV = ROOT / "deploy" / "config"


def test_every_development_secret_is_fingerprinted() -> None:
    """The fingerprints are the secrets of the files as they are: a token or key added there
    must be added to ``shared.infra.production`` as well."""
    tokens = json.loads((DEV / "api_tokens.json").read_text(encoding="utf-8"))
    senders = json.loads((DEV / "senders.json").read_text(encoding="utf-8"))
    assert {production.fingerprint(t) for t in tokens} == production.DEV_TOKEN_FINGERPRINTS
    assert {production.fingerprint(s["key"]) for s in senders.values()} == production.DEV_SENDER_KEY_FINGERPRINTS


def provisioned(tmp_path: Path) -> dict[str, Path]:
    """Configuration files of a production deployment: its own tokens, sender keys and key."""
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"prod-" + "x" * 40: {"id": "admin@prod", "role": "admin"}}), encoding="utf-8")
    senders = tmp_path / "senders.json"
    senders.write_text(json.dumps({"dvc-quang-ngai": {"key": "k" * 48, "jurisdiction": ["province:51"]}}), encoding="utf-8")
    key = tmp_path / "registration.ed25519"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return {"api_tokens_file": tokens, "senders_file": senders, "checkpoint_key_file": key, "session_secret": "s" * 48}


def test_development_secrets_are_found_wherever_they_are(tmp_path: Path) -> None:
    ok = provisioned(tmp_path)
    assert production.development_secrets(RegistrationSettings(environment="production", **ok)) == []
    production.refuse_development_secrets(RegistrationSettings(environment="production", **ok))
    # the development files themselves
    problems = production.development_secrets(RegistrationSettings(environment="production"))
    assert any("api_tokens_file is the development file" in p for p in problems)
    assert any("senders_file is the development file" in p for p in problems)
    assert any("'admin@local'" in p and "development token" in p for p in problems)
    assert any("'dvc-national'" in p and "development key" in p for p in problems)
    assert any("no checkpoint_key_file" in p for p in problems)
    assert any("session_secret is the development one" in p for p in problems)
    # a copy of the development sender keys under another name is still theirs
    copy = tmp_path / "copied-senders.json"
    copy.write_text((DEV / "senders.json").read_text(encoding="utf-8"), encoding="utf-8")
    problems = production.development_secrets(RegistrationSettings(environment="production", **{**ok, "senders_file": copy}))
    assert problems == [
        "the key of sender 'dvc-quang-ngai' is a development key of deploy/config/senders.json",
        "the key of sender 'dvc-national' is a development key of deploy/config/senders.json",
    ]
    # outside production nothing is refused
    production.refuse_development_secrets(RegistrationSettings())
    with pytest.raises(production.DevelopmentSecrets):
        production.refuse_development_secrets(RegistrationSettings(environment="Production"))


def run_service(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ANTT_")}
    environ.update(
        {
            "ANTT_REGISTRATION_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/registration.db",
            "ANTT_REGISTRATION_KAFKA_BOOTSTRAP": "127.0.0.1:9",
            "ANTT_REGISTRATION_HTTP_PORT": "9",
            "ANTT_REGISTRATION_LOG_JSON": "true",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "services.registration"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )


def test_a_production_service_process_with_the_development_config_exits(tmp_path: Path) -> None:
    done = run_service(tmp_path, ANTT_ENVIRONMENT="production")
    assert done.returncode == production.EXIT_DEVELOPMENT_SECRETS, done.stderr[-2000:]
    [line] = [json.loads(x) for x in done.stderr.splitlines() if "config.development_secrets" in x]
    assert line["level"] == "error" and line["service"] == "registration" and line["exit_code"] == 78
    assert any("development token" in p for p in line["problems"])
    # the log names whose secret it is, never the secret
    assert "dev-admin-token" not in done.stderr and "dev-key-national" not in done.stderr
    assert not (tmp_path / "registration.db").exists()  # it stopped before touching the database


def test_a_production_service_process_with_its_own_secrets_goes_on(tmp_path: Path) -> None:
    """With provisioned secrets the check passes and the service goes on starting (it then
    stops, as it should, on the broker that is not there: not with the exit status above)."""
    ok = provisioned(tmp_path)
    done = run_service(
        tmp_path,
        ANTT_ENVIRONMENT="production",
        ANTT_REGISTRATION_API_TOKENS_FILE=str(ok["api_tokens_file"]),
        ANTT_REGISTRATION_SENDERS_FILE=str(ok["senders_file"]),
        ANTT_REGISTRATION_CHECKPOINT_KEY_FILE=str(ok["checkpoint_key_file"]),
        ANTT_REGISTRATION_SESSION_SECRET=str(ok["session_secret"]),
    )
    assert done.returncode not in (0, production.EXIT_DEVELOPMENT_SECRETS), done.stderr[-2000:]
    assert "config.development_secrets" not in done.stderr
    assert (tmp_path / "registration.db").exists()  # it went on to migrate its database


def test_antt_environment_is_the_deployment_s_and_a_service_s_own_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTT_ENVIRONMENT", "production")
    assert RegistrationSettings().is_production
    monkeypatch.setenv("ANTT_REGISTRATION_ENVIRONMENT", "development")
    assert not RegistrationSettings().is_production
