"""Session fixture for a real PostgreSQL server started on 127.0.0.1 in a temporary directory."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_USER = "skynet"
PG_DATABASE = "skynet_test"
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class PostgresServer:
    """A running test server: where it listens and how to log in as its superuser."""

    host: str
    port: int
    user: str
    password: str
    data_dir: Path
    pid: int

    def url(self, database: str) -> str:
        return (
            f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/{database}"
        )


def _bin_dir() -> Path | None:
    configured = os.environ.get("PG_BIN")
    if configured:
        return Path(configured)
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    if candidates:
        return Path(candidates[-1])
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user() -> list[str]:
    """Command prefix so the server runs unprivileged (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def _run(command: list[str], log_path: Path) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S)
    if result.returncode != 0:
        server_log = log_path.read_text() if log_path.exists() else ""
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n"
            f"{result.stderr}\n{server_log}"
        )


def _start(bin_dir: Path, root: Path) -> PostgresServer:
    data_dir = root / "data"
    log_path = root / "server.log"
    password = uuid.uuid4().hex
    password_file = root / "password"
    password_file.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres", group="postgres")
        shutil.chown(password_file, user="postgres", group="postgres")
    prefix = _as_server_user()
    _run(
        [
            *prefix,
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            PG_USER,
            f"--pwfile={password_file}",
            "--auth-host=scram-sha-256",
            "--auth-local=peer" if prefix else "--auth-local=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        log_path,
    )
    port = _free_port()
    server_options = f"-h 127.0.0.1 -p {port} -k {root} -F -c max_connections=200"
    _run(
        [
            *prefix,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data_dir),
            "-l",
            str(log_path),
            "-o",
            server_options,
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "start",
        ],
        log_path,
    )
    pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    return PostgresServer("127.0.0.1", port, PG_USER, password, data_dir, pid)


def _stop(bin_dir: Path, server: PostgresServer) -> None:
    """Stop the server whose PID we recorded: pg_ctl fast shutdown, SIGTERM/SIGKILL as fallback."""
    subprocess.run(
        [
            *_as_server_user(),
            str(bin_dir / "pg_ctl"),
            "-D",
            str(server.data_dir),
            "-m",
            "fast",
            "-w",
            "-t",
            "30",
            "stop",
        ],
        capture_output=True,
        timeout=60,
    )
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(server.pid, 0)
        except ProcessLookupError:
            return
        os.kill(server.pid, sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(server.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def create_database(server: PostgresServer, name: str | None = None) -> str:
    """Create an empty database on `server`; return its SQLAlchemy URL."""
    import psycopg

    database = name or f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password,
        dbname="postgres",
        autocommit=True,
    ) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    return server.url(database)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole test session, stopped by PID at the end."""
    bin_dir = _bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        pytest.fail("PostgreSQL binaries not found: run scripts/setup.sh, or set PG_BIN")
    root = Path(tempfile.mkdtemp(prefix="skynet-pg-"))
    server: PostgresServer | None = None
    try:
        server = _start(bin_dir, root)
        yield server
    finally:
        if server is not None:
            _stop(bin_dir, server)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """URL (`postgresql+psycopg://...`) of an empty database created once per session."""
    return create_database(postgres_server, PG_DATABASE)


@pytest.fixture
def fresh_postgres_url(postgres_server: PostgresServer) -> str:
    """URL of a new, empty database for one test (CREATE DATABASE takes ~0.1 s)."""
    return create_database(postgres_server)
