"""Each service's composition root agrees with its descriptor (``shared.contracts.services``):
it subscribes to exactly the descriptor's topics, claims exactly its inbound types, and its
settings, launcher and contract documents take their defaults from it."""

from __future__ import annotations

import importlib

import pytest

from deploy.processes import DEFAULT_PORTS, SERVICES
from shared.contracts import topics
from shared.contracts.docs import _settings
from shared.contracts.inbound import INBOUND_TYPES
from shared.contracts.services import BY_NAME, ServiceDescriptor
from shared.contracts.services import SERVICES as DESCRIPTORS


@pytest.mark.parametrize("desc", DESCRIPTORS, ids=lambda d: d.name)
def test_the_runtime_consumes_what_the_descriptor_says(desc: ServiceDescriptor) -> None:
    runtime = importlib.import_module(desc.app_module).create_runtime(_settings(desc))
    assert list(runtime.processors) == list(desc.consumes)
    assert runtime.events_topic == desc.events_topic and desc.events_topic in topics.EVENT_TOPICS
    inbound = runtime.processors[topics.INBOUND]._handler
    assert sorted(inbound.handled_types()) == sorted(desc.owned_inbound)
    settings = _settings(desc)
    assert settings.service_name == desc.name == desc.producer
    assert type(settings)().http_port == desc.default_port


def test_every_inbound_type_has_one_owner_and_the_launcher_uses_the_descriptors() -> None:
    owned = [t for d in DESCRIPTORS for t in d.owned_inbound]
    assert sorted(owned) == sorted(INBOUND_TYPES) and len(owned) == len(set(owned))
    assert [d.gatekeeper for d in DESCRIPTORS].count(True) == 1
    assert tuple(BY_NAME) == SERVICES and {d.name: d.default_port for d in DESCRIPTORS} == DEFAULT_PORTS


def test_a_composition_root_cannot_subscribe_beyond_its_descriptor() -> None:
    desc = BY_NAME["registration"]
    runtime = importlib.import_module(desc.app_module).create_runtime(_settings(desc))
    with pytest.raises(ValueError, match="does not consume antt.assessment.events.v1"):
        runtime.consume(topics.ASSESSMENT_EVENTS, runtime.processors[topics.INBOUND]._handler, description="x")
