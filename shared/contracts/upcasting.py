"""Schema versions of events and the upcasters that read old versions.

Within a ``schema_version`` only optional fields are added. A breaking change publishes a
new version and registers here an upcaster from the previous one, so that old history still
replays: consumers upcast every event to the version they understand before handling it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: the version each event type is published in today (default 1)
CURRENT_VERSION: dict[str, int] = {}

#: (event_type, from_version) -> function returning the envelope at from_version + 1
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


class UnsupportedVersion(ValueError):
    pass


def current_version(event_type: str) -> int:
    return CURRENT_VERSION.get(event_type, 1)


def upcast(envelope: dict[str, Any]) -> dict[str, Any]:
    """Bring an envelope to the current version of its type, or raise UnsupportedVersion."""
    event_type = envelope["event_type"]
    target = current_version(event_type)
    version = envelope.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise UnsupportedVersion(f"{event_type}: schema_version {version!r} is not a positive integer")
    env = envelope
    while version < target:
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise UnsupportedVersion(f"{event_type}: no upcaster from schema_version {version}")
        env = step(env)
        version = env["schema_version"]
    if version != target:
        raise UnsupportedVersion(f"{event_type}: schema_version {version} is newer than this service understands ({target})")
    return env
