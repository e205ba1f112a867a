"""The local broker's command line: its JVM flags and the ``ANTT_KAFKA_JVM_OPTS`` that follow them."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.localkafka import JVM_FLAGS, LocalKafka


def _command(tmp_path: Path) -> list[str]:
    broker = LocalKafka(tmp_path / "kafka", port=19092, controller_port=19093)
    return broker.command(tmp_path / "lib", tmp_path / "server.properties")


def test_the_broker_compiles_with_c1_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTT_KAFKA_JVM_OPTS", raising=False)
    cmd = _command(tmp_path)
    assert "-XX:TieredStopAtLevel=1" in JVM_FLAGS
    assert cmd[1] == "-Xmx512m"
    assert cmd[2 : 2 + len(JVM_FLAGS)] == list(JVM_FLAGS)
    assert cmd[-2:] == ["kafka.Kafka", str(tmp_path / "server.properties")]


def test_jvm_opts_from_the_environment_come_after_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTT_KAFKA_JVM_OPTS", " -XX:TieredStopAtLevel=4   -Xss2m ")
    cmd = _command(tmp_path)
    # HotSpot takes the last of two values of a flag: the environment's overrides the default
    assert cmd.index("-XX:TieredStopAtLevel=4") > cmd.index("-XX:TieredStopAtLevel=1")
    assert cmd.index("-Xss2m") == cmd.index("-XX:TieredStopAtLevel=4") + 1
    assert cmd.index("-Xss2m") < cmd.index("kafka.Kafka")
