"""``docker-compose.yml`` cannot be run here (no Docker engine), so it is checked statically:
valid against the Compose Specification's JSON Schema (the copy check-jsonschema ships), and
creating every project topic with the settings that keep the history forever."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from shared.contracts import topics

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _topics_script() -> str:
    doc = YAML(typ="safe").load(COMPOSE.read_text(encoding="utf-8"))
    command = doc["services"]["topics"]["command"]
    return "\n".join(command) if isinstance(command, list) else str(command)


def test_compose_creates_every_project_topic_with_its_partitions() -> None:
    script = _topics_script()
    loop = re.search(r"for t in ([^;]+); do(.*?)done", script, re.S)
    assert loop is not None
    created: dict[str, int] = {}
    for name in loop.group(1).split():
        for suffix, parts in re.findall(r'create "\$\$t([^"]*)" (\d+)', loop.group(2)):
            created[name + suffix] = int(parts)
    for name, parts in re.findall(r"^\s*create ([a-z0-9.]+) (\d+)\s*$", script, re.M):
        created[name] = int(parts)
    assert created == topics.PROJECT_TOPICS


def test_compose_topics_keep_their_records_forever() -> None:
    script = _topics_script()
    keep = re.search(r'keep="([^"]+)"', script)
    assert keep is not None
    settings = dict(item.split("=", 1) for item in keep.group(1).split(","))
    assert settings == topics.topic_config(replication_factor=1)
    # the settings are applied to every topic, new or already there
    assert '--add-config "$$keep"' in script
