"""A real PostgreSQL server in a private folder, for local runs and integration tests.

The server uses the PostgreSQL binaries installed on the machine (Debian/Ubuntu layout
``/usr/lib/postgresql/<version>/bin``, or ``initdb`` on ``PATH``, or ``$ANTT_PG_BIN``), trusts
local connections, listens on 127.0.0.1 only and keeps its socket, cluster and log under one
folder. PostgreSQL refuses to run as root, so when the caller is root every server command runs
as the ``postgres`` OS user and the folder is handed over to that user.

Command line::

    python -m deploy.localpg run --data-dir var/pg --port 5433 \\
        --db registration --db assessment --db approval

``run`` starts the server, creates the databases, prints ``ready <dsn>`` and keeps the server up
until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import glob
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from deploy.ports import free_port

__all__ = ["LocalPostgres", "LocalPostgresError", "find_bin_dir"]

log = logging.getLogger("deploy.localpg")

SUPERUSER = "postgres"
_OS_USER = "postgres"
_CLUSTER_DIR = "pgdata"
_LOG_NAME = "pg.log"
_LOCAL_CONF = "antt_local.conf"
_MAX_SOCKET_PATH = 103  # sun_path is 108 bytes on Linux, PostgreSQL keeps a margin


class LocalPostgresError(RuntimeError):
    """The local PostgreSQL server could not be provisioned, started or used."""


def find_bin_dir() -> Path:
    """Return the folder holding ``initdb``, ``pg_ctl`` and ``psql``.

    Looks at ``$ANTT_PG_BIN``, then the newest ``/usr/lib/postgresql/<version>/bin``, then
    ``PATH``.
    """
    override = os.environ.get("ANTT_PG_BIN")
    if override:
        if not (Path(override) / "initdb").is_file():
            raise LocalPostgresError(f"ANTT_PG_BIN={override} does not contain initdb")
        return Path(override)

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.parent.name
        return tuple(int(part) for part in re.findall(r"\d+", name))

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise LocalPostgresError(
        "PostgreSQL server binaries were not found (no /usr/lib/postgresql/*/bin/initdb and no "
        "initdb on PATH). Install them with `apt-get install postgresql` or point ANTT_PG_BIN "
        "at the folder that holds initdb and pg_ctl."
    )


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


def _quote_conf(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class LocalPostgres:
    """One PostgreSQL server whose files all live in ``data_dir``.

    ``data_dir/pgdata`` is the cluster, ``data_dir/pg.log`` the server log, and the Unix socket
    goes in ``data_dir`` itself. The superuser ``postgres`` needs no password. Starting again
    on an existing ``data_dir`` keeps its databases. ``durable=False`` (the default) turns off
    fsync for speed: fine for tests and local runs, not for data that must survive a crash of
    the machine.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        durable: bool = False,
        max_connections: int = 200,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port = port if port is not None else free_port()
        self.durable = durable
        self.max_connections = max_connections
        self._bin_dir: Path | None = None
        self._started = False

    # -- public API ----------------------------------------------------------------------

    @property
    def cluster_dir(self) -> Path:
        """The PostgreSQL data directory (``PGDATA``)."""
        return self.data_dir / _CLUSTER_DIR

    @property
    def log_path(self) -> Path:
        """The server log."""
        return self.data_dir / _LOG_NAME

    @property
    def running(self) -> bool:
        """Whether a server is running on this cluster."""
        if not (self.cluster_dir / "postmaster.pid").exists():
            return False
        result = self._run_server_tool(["pg_ctl", "-D", str(self.cluster_dir), "status"])
        return result.returncode == 0

    def dsn(self, dbname: str = "postgres", driver: str | None = "asyncpg") -> str:
        """Return a URL for ``dbname``.

        ``driver="asyncpg"`` gives the SQLAlchemy form ``postgresql+asyncpg://...``; pass another
        driver name (``"psycopg"``) or ``None`` for a plain libpq URL ``postgresql://...``.
        """
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def start(self, timeout: float = 60) -> None:
        """Initialise the cluster on first use, then start the server and wait until it is up."""
        if self._started and self.running:
            return
        self._bin_dir = self._bin_dir or find_bin_dir()  # fails early with install advice
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._hand_over_to_server_user()

        if self.running:
            log.warning("a server left over from an earlier run uses %s; restarting it", self.cluster_dir)
            self._pg_ctl_stop()
        if _port_in_use(self.port):
            raise LocalPostgresError(f"port {self.port} on 127.0.0.1 is already in use")
        if not (self.cluster_dir / "PG_VERSION").exists():
            self._initdb()

        self._write_local_conf()
        result = self._run_server_tool(
            [
                "pg_ctl",
                "-D",
                str(self.cluster_dir),
                "-l",
                str(self.log_path),
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ],
            new_session=True,
        )
        if result.returncode != 0:
            if (self.cluster_dir / "postmaster.pid").exists():
                with contextlib.suppress(LocalPostgresError):
                    self._pg_ctl_stop()
            raise LocalPostgresError(
                f"PostgreSQL did not start (pg_ctl exit {result.returncode}):\n"
                f"{_tail(result.stdout)}\n{self.log_path} ends with:\n{self._log_tail()}"
            )
        self._started = True
        atexit.register(self.stop)
        log.info("PostgreSQL ready on 127.0.0.1:%s (%s)", self.port, self.cluster_dir)

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are disconnected)."""
        atexit.unregister(self.stop)
        self._started = False
        if not (self.cluster_dir / "postmaster.pid").exists():
            return
        self._pg_ctl_stop()

    def create_database(self, name: str) -> None:
        """Create database ``name`` unless it already exists."""
        script = (
            "SELECT format('CREATE DATABASE %I', :'dbname') "
            "WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'dbname') \\gexec\n"
        )
        result = subprocess.run(
            [
                str(self._bin / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-v",
                f"dbname={name}",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
                "-f",
                "-",
            ],
            input=script,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        if result.returncode != 0 and "already exists" not in result.stdout:
            raise LocalPostgresError(f"cannot create database {name!r}:\n{_tail(result.stdout)}")

    def __enter__(self) -> LocalPostgres:
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
        return f"LocalPostgres(data_dir={str(self.data_dir)!r}, port={self.port})"

    # -- internals -----------------------------------------------------------------------

    @staticmethod
    def _as_root() -> bool:
        return os.geteuid() == 0

    @property
    def _bin(self) -> Path:
        if self._bin_dir is None:
            self._bin_dir = find_bin_dir()
        return self._bin_dir

    def _run_server_tool(self, argv: Sequence[str], *, new_session: bool = False) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL server program, as the ``postgres`` OS user when we are root."""
        cmd = [str(self._bin / argv[0]), *argv[1:]]
        if self._as_root():
            cmd = ["runuser", "-u", _OS_USER, "--", *cmd]
        return subprocess.run(
            cmd,
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
            start_new_session=new_session,
        )

    def _hand_over_to_server_user(self) -> None:
        """As root, give ``data_dir`` to the ``postgres`` user and check it can reach it."""
        if not self._as_root():
            return
        if shutil.which("runuser") is None:
            raise LocalPostgresError("running as root needs `runuser` (util-linux) to drop to postgres")
        try:
            account = pwd.getpwnam(_OS_USER)
        except KeyError:
            raise LocalPostgresError(
                f"running as root needs an OS user {_OS_USER!r} to own the server (it comes with `apt-get install postgresql`)"
            ) from None
        for root, dirs, files in os.walk(self.data_dir):
            for entry in [root, *(os.path.join(root, name) for name in dirs + files)]:
                if os.lstat(entry).st_uid != account.pw_uid:
                    os.lchown(entry, account.pw_uid, account.pw_gid)
        probe = subprocess.run(
            ["runuser", "-u", _OS_USER, "--", "test", "-w", str(self.data_dir)],
            cwd="/",
            check=False,
        )
        if probe.returncode != 0:
            raise LocalPostgresError(
                f"the {_OS_USER!r} OS user cannot reach {self.data_dir}: a parent folder is "
                "private to root. Choose a data folder under a world-traversable path "
                "(for example /tmp or /var/tmp)."
            )

    def _initdb(self) -> None:
        argv = [
            "initdb",
            "-D",
            str(self.cluster_dir),
            "-A",
            "trust",
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--locale=C",
        ]
        if not self.durable:
            argv.append("--no-sync")
        result = self._run_server_tool(argv)
        if result.returncode != 0:
            raise LocalPostgresError(f"initdb failed in {self.cluster_dir}:\n{_tail(result.stdout)}")
        with (self.cluster_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"\ninclude_if_exists = {_quote_conf(_LOCAL_CONF)}\n")

    def _write_local_conf(self) -> None:
        socket_path = self.data_dir / f".s.PGSQL.{self.port}"
        if len(str(socket_path)) <= _MAX_SOCKET_PATH:
            socket_dirs = str(self.data_dir)
        else:
            log.info("%s is too long for a Unix socket; TCP only", socket_path)
            socket_dirs = ""
        settings = {
            "listen_addresses": _quote_conf("127.0.0.1"),
            "port": str(self.port),
            "unix_socket_directories": _quote_conf(socket_dirs),
            "max_connections": str(self.max_connections),
            "logging_collector": "off",
        }
        if not self.durable:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        path = self.cluster_dir / _LOCAL_CONF
        path.write_text(
            "# Written at every start by deploy/localpg.py\n" + "".join(f"{key} = {value}\n" for key, value in settings.items())
        )
        if self._as_root():
            account = pwd.getpwnam(_OS_USER)
            os.chown(path, account.pw_uid, account.pw_gid)

    def _pg_ctl_stop(self) -> None:
        result = self._run_server_tool(["pg_ctl", "-D", str(self.cluster_dir), "-m", "fast", "-w", "-t", "60", "stop"])
        if result.returncode != 0 and self.running:
            raise LocalPostgresError(f"PostgreSQL did not stop:\n{_tail(result.stdout)}")

    def _log_tail(self) -> str:
        try:
            return _tail(self.log_path.read_text(errors="replace"))
        except OSError:
            return "(no log)"


# --------------------------------------------------------------------------- CLI


def _run(args: argparse.Namespace) -> int:
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    server = LocalPostgres(Path(args.data_dir), port=args.port, durable=args.durable)
    try:
        server.start()
        for name in args.db:
            server.create_database(name)
        print(f"ready {server.dsn('postgres', driver=None).rsplit('/', 1)[0]}", flush=True)
        while not stop_requested.wait(1.0):
            if not server.running:
                log.error("PostgreSQL exited unexpectedly; see %s", server.log_path)
                return 1
        return 0
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m deploy.localpg``."""
    parser = argparse.ArgumentParser(prog="python -m deploy.localpg", description="Local PostgreSQL server.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the server and create databases")
    run.add_argument("--data-dir", default="var/pg", help="state folder (default: var/pg)")
    run.add_argument("--port", type=int, default=5433, help="TCP port (default: 5433)")
    run.add_argument("--db", action="append", default=[], help="database to create (repeatable)")
    run.add_argument("--durable", action="store_true", help="keep fsync on (slower, crash-safe)")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _run(args)
    except LocalPostgresError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
