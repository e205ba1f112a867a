"""A real single-node Apache Kafka broker (KRaft mode) for local runs and integration tests.

The broker is assembled from Maven Central: ``deploy/kafka/pom.xml`` lists the Kafka server
artifact plus a logging binding, Maven copies the runtime jars into a cache folder once, and
the broker runs as a plain ``java`` process with one combined broker/controller node listening
on 127.0.0.1 only. Nothing here needs Docker or a Kafka download site.

The version is 3.9.1 unless ``ANTT_KAFKA_VERSION`` names another of :data:`POMS` (4.4.0, the
newest 4.x release on Maven Central when it was added: Kafka 4 removed old protocol versions
(KIP-896) and ZooKeeper, and logs through log4j2), so that the tests run against the broker
production installs now as well as against 3.9.

Command line::

    python -m deploy.localkafka fetch [--kafka-version 4.4.0]
    python -m deploy.localkafka run --data-dir var/kafka --port 9092 [--kafka-version 4.4.0]

``run`` starts the broker, creates :data:`PROJECT_TOPICS`, prints ``ready <bootstrap>`` and
keeps the broker up until SIGINT or SIGTERM.

The JVM compiles with C1 only (:data:`JVM_FLAGS`, ``-XX:TieredStopAtLevel=1``). This broker
lives for a test session, a benchmark or a working day on a machine of a few cores that it
shares with the services, and HotSpot's optimising C2 compiler spent most of that life
compiling: in ``bench.lifecycle`` the C2 compiler threads were about 40 % of the broker's CPU
at 10 unit-years in flight, and with C1 alone the broker's CPU per lifecycle halved at full
load too, with the raw aiokafka baseline no slower (``docs/benchmarks.md``). A long-lived
production broker is not started by this module. ``ANTT_KAFKA_JVM_OPTS`` adds flags after
these (a later flag wins: ``-XX:TieredStopAtLevel=4`` brings C2 back).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType

from deploy.ports import free_ports
from shared.contracts import topics

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "KAFKA_VERSION",
    "POMS",
    "PROJECT_TOPICS",
    "LocalKafka",
    "LocalKafkaError",
    "create_topics",
    "default_cache_dir",
    "ensure_jars",
]

log = logging.getLogger("deploy.localkafka")

#: the Apache Kafka versions this module assembles, each pinned by a pom of ``deploy/kafka/``
POMS: Mapping[str, str] = {"3.9.1": "pom.xml", "4.4.0": "pom-4.4.0.xml"}
DEFAULT_KAFKA_VERSION = "3.9.1"


def _selected_version() -> str:
    version = os.environ.get("ANTT_KAFKA_VERSION", "").strip() or DEFAULT_KAFKA_VERSION
    if version not in POMS:
        raise LocalKafkaError(f"ANTT_KAFKA_VERSION={version!r}: this project assembles Apache Kafka {', '.join(POMS)}")
    return version


class LocalKafkaError(RuntimeError):
    """The local broker could not be provisioned, started or used."""


KAFKA_VERSION = _selected_version()
"""Apache Kafka version of this process: ``ANTT_KAFKA_VERSION`` or 3.9.1."""

POM_PATH = Path(__file__).resolve().parent / "kafka" / POMS[KAFKA_VERSION]


def major_version(version: str = KAFKA_VERSION) -> int:
    return int(version.split(".")[0])


PROJECT_TOPICS: Mapping[str, int] = topics.PROJECT_TOPICS
"""Every topic the project uses, mapped to its partition count (``shared.contracts.topics``)."""

_MARKER = ".complete"
_READY_LINE = "Kafka Server started"
_LOG_NAME = "kafka.log"
_CLUSTER_ID_NAME = "cluster.id"
_PID_NAME = "kafka.pid"


# --------------------------------------------------------------------------- jars


def default_cache_dir(version: str | None = None) -> Path:
    """Return the folder the broker jars are cached in.

    ``$ANTT_CACHE_DIR/kafka-<version>`` when ``ANTT_CACHE_DIR`` is set, otherwise
    ``$XDG_CACHE_HOME/antt/kafka-<version>`` (``~/.cache/antt/kafka-<version>``).
    """
    root = os.environ.get("ANTT_CACHE_DIR")
    if root:
        base = Path(root)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "antt"
    return (base / f"kafka-{version or KAFKA_VERSION}").expanduser()


def pom_path(version: str | None = None) -> Path:
    """The pom that pins ``version`` (default: this process's :data:`KAFKA_VERSION`)."""
    version = version or KAFKA_VERSION
    if version not in POMS:
        raise LocalKafkaError(f"Apache Kafka {version} is not one this project assembles ({', '.join(POMS)})")
    return POM_PATH.parent / POMS[version]


def _pom_digest(version: str | None = None) -> str:
    return hashlib.sha256(pom_path(version).read_bytes()).hexdigest()


def _jars_complete(lib_dir: Path, digest: str) -> bool:
    marker = lib_dir / _MARKER
    try:
        return marker.read_text().strip() == digest
    except OSError:
        return False


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (serialises parallel fetches)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_jars(cache_dir: Path | None = None, version: str | None = None) -> Path:
    """Make sure the Kafka broker jars are in ``cache_dir`` and return that folder.

    Maven copies the runtime dependencies of ``deploy/kafka/pom.xml`` into a staging folder
    that replaces ``cache_dir`` only once the copy succeeded; a marker file holding the pom's
    digest records success, so an interrupted download or an edited pom is fetched again.
    Parallel callers wait for each other instead of downloading twice.
    """
    version = version or KAFKA_VERSION
    lib_dir = Path(cache_dir or default_cache_dir(version)).expanduser().resolve()
    digest = _pom_digest(version)
    if _jars_complete(lib_dir, digest):
        return lib_dir

    lib_dir.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(lib_dir.with_name(lib_dir.name + ".lock")):
        if _jars_complete(lib_dir, digest):
            return lib_dir
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LocalKafkaError(
                "Maven ('mvn') is not on PATH; it is needed once to fetch the Kafka broker "
                "jars from Maven Central (e.g. apt-get install maven)."
            )
        staging = Path(tempfile.mkdtemp(prefix=f"{lib_dir.name}.partial-", dir=lib_dir.parent))
        try:
            cmd = [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom_path(version)),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={staging}",
            ]
            log.info("fetching Kafka %s jars into %s", version, lib_dir)
            result = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise LocalKafkaError(
                    f"Maven could not fetch the Kafka jars (exit {result.returncode}):\n" + _tail(result.stdout)
                )
            if not list(staging.glob(f"kafka_2.13-{version}.jar")):
                raise LocalKafkaError(f"Maven finished but no Kafka server jar is in {staging}")
            (staging / _MARKER).write_text(digest + "\n")
            if lib_dir.exists():
                shutil.rmtree(lib_dir)
            staging.rename(lib_dir)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return lib_dir


# --------------------------------------------------------------------------- broker


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _new_cluster_id() -> str:
    """Return a random cluster id in Kafka's format (22-char URL-safe base64 UUID)."""
    while True:
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not value.startswith("-"):  # Kafka avoids ids that look like CLI options
            return value


#: the broker's JVM flags besides its heap (see the module docstring for the C1-only JIT)
JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)


def jvm_opts() -> list[str]:
    """The JVM flags ``ANTT_KAFKA_JVM_OPTS`` adds after :data:`JVM_FLAGS` (space-separated)."""
    return os.environ.get("ANTT_KAFKA_JVM_OPTS", "").split()


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise LocalKafkaError("Java 17+ is needed to run the Kafka broker; 'java' is not on PATH.")
    return java


_LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.common.config.AbstractConfig=WARN
"""

#: the same for Kafka 4, which logs through log4j2
_LOG4J2_PROPERTIES = """\
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
"""


class LocalKafka:
    """One Apache Kafka process acting as both broker and KRaft controller.

    ``data_dir`` holds the configuration, the cluster id, the log segments and ``kafka.log``
    (the process output). Starting again on an existing ``data_dir`` keeps its topics and
    messages. Ports default to free ones picked at construction time.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        controller_port: int | None = None,
        heap: str = "512m",
        lib_dir: Path | None = None,
        version: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        #: the Apache Kafka version of this broker (default: ``ANTT_KAFKA_VERSION`` or 3.9.1)
        self.version = version or KAFKA_VERSION
        pom_path(self.version)  # an unknown version is refused here, not at start
        free = iter(free_ports(2))
        self.port = port if port is not None else next(free)
        self.controller_port = controller_port if controller_port is not None else next(free)
        if self.controller_port == self.port:
            raise ValueError("the broker and controller ports must differ")
        self.heap = heap
        self._lib_dir = lib_dir
        self._process: subprocess.Popen[bytes] | None = None

    # -- public API ----------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """The ``bootstrap_servers`` string clients connect to."""
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where the broker's stdout and stderr go."""
        return self.data_dir / _LOG_NAME

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 90) -> None:
        """Start the broker and wait until it accepts clients.

        Fetches the jars if needed, writes ``server.properties``, formats the storage on first
        use and waits for ``Kafka Server started`` in the log. Raises :class:`LocalKafkaError`
        with the log tail when the process exits or ``timeout`` seconds pass first.
        """
        if self.running:
            return
        started_at = time.monotonic()
        lib_dir = ensure_jars(self._lib_dir, self.version)
        self._stop_leftover()
        for port in (self.port, self.controller_port):
            if _port_in_use(port):
                raise LocalKafkaError(f"port {port} on 127.0.0.1 is already in use")

        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        self._format_storage(lib_dir, config)

        log_path = self.log_path
        offset = log_path.stat().st_size if log_path.exists() else 0
        cmd = self.command(lib_dir, config)
        with log_path.open("ab") as out:
            self._process = subprocess.Popen(
                cmd,
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.data_dir / _PID_NAME).write_text(f"{self._process.pid}\n")
        atexit.register(self.stop)
        log.info("Kafka broker starting (pid %s) on %s", self._process.pid, self.bootstrap)

        try:
            self._wait_until_started(offset, started_at + timeout)
        except BaseException:
            self.stop()
            raise
        log.info("Kafka broker ready on %s after %.1fs", self.bootstrap, time.monotonic() - started_at)

    def stop(self, timeout: float = 30) -> None:
        """Stop the broker: SIGTERM to its process group, SIGKILL if it outlives ``timeout``."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("Kafka broker did not stop within %ss; killing it", timeout)
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        (self.data_dir / _PID_NAME).unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the broker, as in a crash: no controlled shutdown, nothing flushed by Kafka.
        :meth:`start` brings it back on the same data and ports."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
        (self.data_dir / _PID_NAME).unlink(missing_ok=True)

    def __enter__(self) -> LocalKafka:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalKafka(data_dir={str(self.data_dir)!r}, bootstrap={self.bootstrap!r})"

    # -- internals -----------------------------------------------------------------------

    def _write_config(self) -> Path:
        settings = {
            # single combined node
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir / "data"),
            # topics
            "num.partitions": "6",
            "auto.create.topics.enable": "false",
            "delete.topic.enable": "true",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            # small footprint
            "log.cleaner.dedupe.buffer.size": "2097152",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "background.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
            # quick shutdown: a controlled shutdown deregisters the broker. The broker session
            # keeps Kafka's defaults: shorter ones fenced the broker under a loaded 2-core machine
            "auto.leader.rebalance.enable": "false",
            "controlled.shutdown.enable": "true",
            "broker.heartbeat.interval.ms": "2000",
            "broker.session.timeout.ms": "9000",
            "log.segment.delete.delay.ms": "1000",
        }
        config = self.data_dir / "server.properties"
        config.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        (self.data_dir / "log4j.properties").write_text(_LOG4J_PROPERTIES)
        (self.data_dir / "log4j2.properties").write_text(_LOG4J2_PROPERTIES)
        return config

    def _log_config_flag(self) -> str:
        """The JVM flag naming the logging configuration (log4j 1 for 3.x, log4j2 for 4.x)."""
        if major_version(self.version) >= 4:
            return f"-Dlog4j2.configurationFile={(self.data_dir / 'log4j2.properties').as_uri()}"
        return f"-Dlog4j.configuration={(self.data_dir / 'log4j.properties').as_uri()}"

    def _stop_leftover(self, timeout: float = 30) -> None:
        """Stop a broker that an earlier, killed run left running on this ``data_dir``."""
        pid_file = self.data_dir / _PID_NAME
        try:
            pid = int(pid_file.read_text())
        except (OSError, ValueError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            cmdline = []
        if str(self.data_dir / "server.properties").encode() in cmdline:
            log.warning("stopping a Kafka broker left over from an earlier run (pid %s)", pid)
            _signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline + 10:
                if time.monotonic() > deadline:
                    _signal_group(pid, signal.SIGKILL)
                time.sleep(0.1)
        pid_file.unlink(missing_ok=True)

    def command(self, lib_dir: Path, config: Path) -> list[str]:
        """The broker's command line: ``java``, the heap, :data:`JVM_FLAGS`, then
        ``ANTT_KAFKA_JVM_OPTS`` (a later flag wins), the logging configuration and the class."""
        return [
            _java(),
            f"-Xmx{self.heap}",
            *JVM_FLAGS,
            *jvm_opts(),
            self._log_config_flag(),
            f"-Dkafka.logs.dir={self.data_dir}",
            "-cp",
            f"{lib_dir}/*",
            "kafka.Kafka",
            str(config),
        ]

    def _cluster_id(self) -> str:
        path = self.data_dir / _CLUSTER_ID_NAME
        if path.exists():
            return path.read_text().strip()
        cluster_id = _new_cluster_id()
        path.write_text(cluster_id + "\n")
        return cluster_id

    def _format_storage(self, lib_dir: Path, config: Path) -> None:
        if (self.data_dir / "data" / "meta.properties").exists():
            return
        cmd = [
            _java(),
            "-Xmx256m",
            "-XX:TieredStopAtLevel=1",  # a one-shot tool: C2 would compile for nothing
            self._log_config_flag(),
            "-cp",
            f"{lib_dir}/*",
            "kafka.tools.StorageTool",
            "format",
            "-t",
            self._cluster_id(),
            "-c",
            str(config),
            "--ignore-formatted",
        ]
        result = subprocess.run(
            cmd,
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise LocalKafkaError(f"formatting Kafka storage in {self.data_dir} failed:\n{_tail(result.stdout)}")

    def _wait_until_started(self, offset: int, deadline: float) -> None:
        assert self._process is not None
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            seen = b""
            while True:
                chunk = handle.read()
                if chunk:
                    seen = (seen + chunk)[-65536:]
                    if _READY_LINE.encode() in seen:
                        return
                code = self._process.poll()
                if code is not None:
                    raise LocalKafkaError(
                        f"Kafka broker exited with code {code} before it was ready; "
                        f"{self.log_path} ends with:\n{self._log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise LocalKafkaError(f"Kafka broker was not ready in time; {self.log_path} ends with:\n{self._log_tail()}")
                time.sleep(0.1)

    def _log_tail(self) -> str:
        try:
            return _tail(self.log_path.read_text(errors="replace"))
        except OSError:
            return "(no log)"


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process, as far as ``/proc`` tells."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# --------------------------------------------------------------------------- topics


async def create_topics(
    bootstrap: str,
    wanted: Mapping[str, int],
    replication: int = 1,
    timeout: float = 60,
) -> None:
    """Create ``topics`` (name → partition count) unless they exist, then wait for leaders.

    Every topic is created with :func:`shared.contracts.topics.topic_config`: records are kept
    forever (the history auditors replay), ``min.insync.replicas`` to suit ``replication``,
    and an explicit ``max.message.bytes``.
    Idempotent: a topic that already exists keeps its partitions, and its configuration is
    brought to those settings if it differs (e.g. a topic an older version created with the
    broker's 7-day default). Returns once the cluster metadata shows every topic with every
    partition led by a broker.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
    from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError, for_code

    config = topics.topic_config(replication)

    if not wanted:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    while True:
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            await admin.close()
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.5)
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)

    try:
        response = await admin.create_topics(
            [NewTopic(name, partitions, replication, topic_configs=config) for name, partitions in wanted.items()],
            timeout_ms=int(timeout * 1000),
        )
        existing = []
        for error in response.topic_errors:
            name, code = error[0], error[1]
            message = error[2] if len(error) > 2 else None
            if code == TopicAlreadyExistsError.errno:
                existing.append(name)
            elif code != 0:
                raise for_code(code)(f"cannot create topic {name}: {message or ''}")
        if existing:
            described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n, None) for n in existing])
            stale = [
                res["resource_name"]
                for resp in described
                for res in resp.to_object()["resources"]
                if res["error_code"] == 0
                and any(
                    {c["config_names"]: c["config_value"] for c in res["config_entries"]}.get(k) != v for k, v in config.items()
                )
            ]
            if stale:
                log.warning("setting retention and min.insync.replicas of existing topics: %s", ", ".join(stale))
                await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, n, dict(config)) for n in stale])

        pending: list[str] = list(wanted)
        while True:
            described = await admin.describe_topics(pending)
            ready = {
                item["topic"]
                for item in described
                if item["error_code"] == 0 and item["partitions"] and all(part["leader"] >= 0 for part in item["partitions"])
            }
            pending = [name for name in pending if name not in ready]
            if not pending:
                return
            if loop.time() > deadline:
                raise LocalKafkaError(f"topics without partition leaders: {', '.join(pending)}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


# --------------------------------------------------------------------------- CLI


def _run(args: argparse.Namespace) -> int:
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    kafka = LocalKafka(
        Path(args.data_dir),
        port=args.port,
        controller_port=args.controller_port,
        heap=args.heap,
        version=args.kafka_version,
    )
    try:
        kafka.start(timeout=args.timeout)
        asyncio.run(create_topics(kafka.bootstrap, PROJECT_TOPICS))
        print(f"ready {kafka.bootstrap}", flush=True)
        while not stop_requested.wait(1.0):
            if not kafka.running:
                log.error("Kafka broker exited unexpectedly; see %s", kafka.log_path)
                return 1
        return 0
    finally:
        kafka.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m deploy.localkafka``."""
    parser = argparse.ArgumentParser(prog="python -m deploy.localkafka", description="Local Apache Kafka broker (KRaft).")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start the broker with the project topics")
    run.add_argument("--data-dir", default="var/kafka", help="state folder (default: var/kafka)")
    run.add_argument("--port", type=int, default=9092, help="client port (default: 9092)")
    run.add_argument("--controller-port", type=int, default=None, help="KRaft controller port (default: free)")
    run.add_argument("--heap", default="512m", help="JVM max heap (default: 512m)")
    run.add_argument("--timeout", type=float, default=90, help="start-up timeout in seconds")

    fetch = commands.add_parser("fetch", help="download the broker jars into the cache")
    fetch.add_argument("--cache-dir", default=None, help="jar folder (default: user cache)")
    for sub in (run, fetch):
        sub.add_argument(
            "--kafka-version",
            choices=sorted(POMS),
            default=KAFKA_VERSION,
            help=f"Apache Kafka version (default: ANTT_KAFKA_VERSION or {DEFAULT_KAFKA_VERSION}; now {KAFKA_VERSION})",
        )

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "fetch":
            print(ensure_jars(Path(args.cache_dir) if args.cache_dir else None, args.kafka_version))
            return 0
        return _run(args)
    except LocalKafkaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
