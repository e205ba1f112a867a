"""Production refuses the development secrets of ``deploy/config/``.

The repository ships bearer tokens (``api_tokens.json``) and sender keys (``senders.json``) so
that ``make run`` works out of the box. They are public: anyone who read the repository could
act as an administrator or sign inbound messages as a province's portal. A service started with
``ANTT_ENVIRONMENT=production`` therefore refuses to start when

- a configured bearer token or sender key is one of the development ones, found by its SHA-256
  fingerprint (so a copy of the file under another name is caught too, and the check does not
  need the development files to be shipped);
- the tokens or senders file is the development one (``deploy/config/``);
- the console's ``session_secret`` is the development one (or shorter than 32 characters);
- no checkpoint key is provisioned (``checkpoint_key_file``): a key generated on the spot would
  make every later checkpoint look forged to the auditors.

``serve`` logs ``config.development_secrets`` (error) with the problems and exits with
:data:`EXIT_DEVELOPMENT_SECRETS` before anything connects; the runtime checks again at start,
so an embedding that does not go through ``serve`` cannot skip it.
"""

from __future__ import annotations

import hashlib

from shared.infra.settings import DEV_SESSION_SECRET, ROOT, ServiceSettings

#: the exit status of a service refusing development secrets (``EX_CONFIG`` of sysexits.h)
EXIT_DEVELOPMENT_SECRETS = 78

DEV_CONFIG = ROOT / "deploy" / "config"

#: SHA-256 of the development bearer tokens of ``deploy/config/api_tokens.json``
DEV_TOKEN_FINGERPRINTS = frozenset(
    {
        "127a7291b91c4fee38e551d0b360175ba108f1c8dd897de6eef48ab26988454a",
        "1734d503f6aa6a047c36d113cbad769f719c93784b469b771c4c3e7c63adbefd",
        "32fcefb048798e383272d037f5d6fb9c21751c9f42130a75025d214298d4802f",
        "4ff22dac4500cf796d29a935728a37d4a74a96c2b03e6d3a3fee926384494933",
        "549a3049abbb72acfd986ebdc2d00482cc0718b3d1943e8af6ef5726284c9714",
        "b76cc79e3f0d96828a001b149c6afb2b4ac03f49c810eb414711e60a12780365",
        "c5d4db622ce60fc9d1357a7e337a467380dc6d387399335f670793675d120836",
        "c961916a9296574a4b1544ac6831cef44e9f1bec9226d650ec3eabc1031db04e",
        "cb894e4cde0a8a44c26f60b2ac2a1d5402067dada3558156031c381a1e9e2865",
        "d31ea61ef0d71f2a751b6c0c1562e57d0cb99938919821287e4e750f442b7902",
        "d4a9c3439377976969e7a685dcecfd7f9c446bdbd13bcaafc662353edd6e8db1",
        "ec9094e72a134b9eeffea37496a0fa5679aa2796412032c64ed23b377dabc971",
        "f2ad30fc0dca455af51a5b03136788f67edbc5b160b9a2106367ad560d4ae23c",
    }
)
#: SHA-256 of the development sender keys of ``deploy/config/senders.json``
DEV_SENDER_KEY_FINGERPRINTS = frozenset(
    {
        "4eed23ca3a562d5cba3fbcd8f1d0025bffc09401db6cd6704ccfc02ca315c7dc",
        "b0eb0fedd5fe67db9d0079e2a7af86b480e3c896480ab3af03391b5cef8d2e2e",
    }
)


class DevelopmentSecrets(RuntimeError):
    """A production service configured with development secrets."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def is_production(settings: ServiceSettings) -> bool:
    return settings.is_production


def development_secrets(settings: ServiceSettings) -> list[str]:
    """What in ``settings`` is a development secret (never the secrets themselves)."""
    problems: list[str] = []
    for what, path in (("api_tokens_file", settings.api_tokens_file), ("senders_file", settings.senders_file)):
        try:
            if path.resolve().parent == DEV_CONFIG.resolve():
                problems.append(f"{what} is the development file {path}")
        except OSError:
            pass
    for token, actor in settings.load_api_tokens().items():
        if fingerprint(token) in DEV_TOKEN_FINGERPRINTS:
            problems.append(f"the bearer token of {actor.id!r} is a development token of deploy/config/api_tokens.json")
    for name, sender in settings.load_senders().items():
        if fingerprint(sender.key) in DEV_SENDER_KEY_FINGERPRINTS:
            problems.append(f"the key of sender {name!r} is a development key of deploy/config/senders.json")
    secret = getattr(settings, "session_secret", None)
    if secret is not None and (secret == DEV_SESSION_SECRET or len(secret) < 32):
        problems.append("session_secret is the development one (or shorter than 32 characters)")
    if settings.checkpoint_key_file is None:
        problems.append("no checkpoint_key_file: production signs checkpoints with a provisioned key, never a generated one")
    return problems


def refuse_development_secrets(settings: ServiceSettings) -> None:
    """Raise :class:`DevelopmentSecrets` if a production service has development secrets."""
    if not is_production(settings):
        return
    problems = development_secrets(settings)
    if problems:
        raise DevelopmentSecrets(problems)
