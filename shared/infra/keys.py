"""The Ed25519 key a service signs its checkpoints with.

A checkpoint is only worth something if whoever can rewrite the topics cannot sign one, so the
private key lives outside the broker and the databases, in a file readable by the service alone
(mode 0600). Two ways to get one:

- **Provisioned** (production): ``checkpoint_key_file`` names a PEM PKCS#8 file. If it is not
  there the service refuses to start: a generated key would silently replace the one the
  auditors trust, and every checkpoint after it would look forged.
- **Generated** (development, tests, the demo): with no ``checkpoint_key_file``, the key is
  ``<keys_dir>/<service>.ed25519``, created on the first start.

Either way the public key is written next to it as ``<keys_dir>/<service>.pub`` (base64 of the
raw 32 bytes, one line), the folder format ``shared.contracts.checkpoint.PublicKeys.load``
reads, so an auditor can be handed the folder.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from shared.contracts.checkpoint import public_key_b64
from shared.infra.logging import get_logger
from shared.infra.settings import ServiceSettings

log = get_logger(__name__)


class SigningKeyError(RuntimeError):
    """The checkpoint key cannot be used: missing where it must be provisioned, or unreadable."""


def private_key_path(keys_dir: Path, service: str) -> Path:
    return Path(keys_dir) / f"{service}.ed25519"


def public_key_path(keys_dir: Path, service: str) -> Path:
    return Path(keys_dir) / f"{service}.pub"


def load_signing_key(settings: ServiceSettings) -> Ed25519PrivateKey:
    """The service's checkpoint key, generated on first start unless a key file is configured."""
    service = settings.service_name
    if settings.checkpoint_key_file is not None:
        path = Path(settings.checkpoint_key_file)
        if not path.exists():
            raise SigningKeyError(
                f"checkpoint_key_file {path} does not exist; provision the service's Ed25519 key there "
                f"(PEM, PKCS#8, mode 0600) or unset ANTT_{service.upper()}_CHECKPOINT_KEY_FILE to use a "
                f"generated development key in {settings.keys_dir}"
            )
        key = read_private_key(path)
    else:
        key = generate_or_read(private_key_path(settings.keys_dir, service))
    _publish_public_key(key, public_key_path(settings.keys_dir, service))
    return key


def read_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path}: not a readable unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: not an Ed25519 key")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("keys.private_key_readable_by_others", path=str(path), mode=oct(mode))
    return key


def generate_or_read(path: Path) -> Ed25519PrivateKey:
    """Read the key at ``path``, or create it there (mode 0600).

    The new key is written to a temporary file and hard-linked into place, which fails if the
    file appeared meanwhile: two replicas starting together on one folder agree on one key.
    """
    if path.exists():
        return read_private_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return read_private_key(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    log.warning("keys.generated", path=str(path), note="a development key; provision checkpoint_key_file in production")
    return key


def _publish_public_key(key: Ed25519PrivateKey, path: Path) -> None:
    line = public_key_b64(key.public_key()) + "\n"
    try:
        if path.exists() and path.read_text(encoding="utf-8") == line:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_text(line, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # a read-only key folder in production: the key is configuration there
        log.warning("keys.public_key_not_written", path=str(path), error=str(exc))
