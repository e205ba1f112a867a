"""A second leg on Apache Kafka 4.x: a subset of the end-to-end suite on the newest 4.x broker.

Kafka 4.0 removed ZooKeeper and the old versions of many requests (KIP-896); aiokafka 0.14
negotiates the versions with ``ApiVersions`` and still sends ones 4.x serves, and its admin
client (topic creation, ``DescribeConfigs`` for the retention check) works there too. This
module starts a 4.4.0 broker (``deploy/kafka/pom-4.4.0.xml``) and runs, against it, the
lifecycle over Kafka and over HTTP, the dead letters of bad input, and the early arrivals.
The whole e2e suite runs on 4.x with ``ANTT_KAFKA_VERSION=4.4.0`` (``make test-e2e-kafka4``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e import test_bad_input as bad_input
from tests.e2e import test_early_arrivals as early
from tests.e2e import test_lifecycle as lifecycle
from tests.e2e.conftest import System, _start_system

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

KAFKA_4 = "4.4.0"


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    yield from _start_system(
        "sqlite",
        None,
        extra={"PARKING_TTL_S": str(early.TTL_S), "PARKING_SWEEP_INTERVAL_S": "1"},
        kafka_version=KAFKA_4,
    )


def test_the_broker_is_kafka_4(system: System) -> None:
    assert system.kafka.version == KAFKA_4
    assert f"Kafka version: {KAFKA_4}" in system.kafka.log_path.read_text(errors="replace")
    for name in ("registration", "assessment", "approval"):
        ready = system.get(name, "/ready").json()
        assert ready["status"] == "ready", (name, ready)


async def test_lifecycle_on_kafka_4(system: System) -> None:
    await lifecycle.test_residential_area_is_recognised_and_history_is_complete(system)


async def test_http_actions_on_kafka_4(system: System) -> None:
    await lifecycle.test_the_same_actions_over_http(system)


async def test_bad_input_on_kafka_4(system: System) -> None:
    await bad_input.test_bad_messages_are_dead_lettered_and_nothing_changes(system)


async def test_early_arrivals_on_kafka_4(system: System) -> None:
    await early.test_registration_year_and_self_assessment_sent_at_once(system)
    await early.test_an_early_arrival_whose_announcement_never_comes_is_dead_lettered_after_the_ttl(system)
