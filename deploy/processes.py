"""Start the three services as separate processes (used by ``deploy/run.py`` and the
end-to-end tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from shared.contracts.services import SERVICES as DESCRIPTORS

ROOT = Path(__file__).resolve().parents[1]
SERVICES = tuple(s.name for s in DESCRIPTORS)
DEFAULT_PORTS = {s.name: s.default_port for s in DESCRIPTORS}


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    _log: object | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout}s; see {self.log_path}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
            self._log = None


def service_env(
    name: str,
    *,
    kafka_bootstrap: str,
    database_url: str | None,
    port: int,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    prefix = f"ANTT_{name.upper()}_"
    env = dict(os.environ)
    env.update(
        {
            f"{prefix}KAFKA_BOOTSTRAP": kafka_bootstrap,
            f"{prefix}HTTP_PORT": str(port),
            f"{prefix}LOG_JSON": "true",
            "PYTHONPATH": str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if database_url:
        env[f"{prefix}DATABASE_URL"] = database_url
    for k, v in (extra or {}).items():
        env[k if k.startswith("ANTT_") else prefix + k] = v
    return env


def make_services(
    *,
    kafka_bootstrap: str,
    database_urls: dict[str, str | None],
    ports: dict[str, int] | None = None,
    log_dir: Path,
    keys_dir: Path | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, ServiceProcess]:
    """The three services, logging to ``log_dir``; their checkpoint signing keys live in
    ``keys_dir`` (default: ``keys`` beside ``log_dir``), where each writes its public key as
    ``<service>.pub`` for the auditors' tool."""
    ports = ports or DEFAULT_PORTS
    keys = keys_dir or log_dir.parent / "keys"
    return {
        name: ServiceProcess(
            name=name,
            port=ports[name],
            env=service_env(
                name,
                kafka_bootstrap=kafka_bootstrap,
                database_url=database_urls.get(name),
                port=ports[name],
                extra={"KEYS_DIR": str(keys), **(extra or {})},
            ),
            log_path=log_dir / f"{name}.log",
        )
        for name in SERVICES
    }
