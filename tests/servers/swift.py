"""Session fixture for a real OpenStack Swift (s3api) server started on 127.0.0.1."""

from __future__ import annotations

import atexit
import io
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import urllib3
from minio import Minio

SYSTEM_PYTHON = "/usr/bin/python3"
ACCESS_KEY = "test:tester"
SECRET_KEY = "testing"
REGION = "us-east-1"
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_CHARS = 3000
READINESS_BUCKET = "readiness-probe"
START_ATTEMPTS = 3

_PROXY_FILTERS = (
    "catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth "
    "copy slo dlo versioned_writes proxy-logging proxy-server"
)
_BACKENDS = ("account", "container", "object")
_RING_SCRIPT = textwrap.dedent(
    """
    import sys
    from swift.common.ring import RingBuilder
    etc_dir = sys.argv[1]
    for name, port in zip(("account", "container", "object"), sys.argv[2:5]):
        builder = RingBuilder(10, 1, 1)
        builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1",
                         "port": int(port), "device": "d1", "weight": 100, "meta": ""})
        builder.rebalance()
        builder.save(f"{etc_dir}/{name}.builder")
        builder.get_ring().save(f"{etc_dir}/{name}.ring.gz")
    """
)


class SwiftStartupError(RuntimeError):
    """Raised when the Swift test server does not come up; carries the log tails."""


@dataclass(frozen=True)
class SwiftPorts:
    """TCP ports of the proxy (S3), the three backends and memcached."""

    proxy: int
    account: int
    container: int
    object: int
    memcached: int


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pick_ports() -> SwiftPorts:
    """Use Swift's usual ports where free, otherwise free ephemeral ones."""
    wanted = {"proxy": 8080, "account": 6202, "container": 6201, "object": 6200, "memcached": 11211}
    chosen: dict[str, int] = {}
    for name, port in wanted.items():
        use = port if _port_is_free(port) else _ephemeral_port()
        while use in chosen.values():
            use = _ephemeral_port()
        chosen[name] = use
    return SwiftPorts(**chosen)


class SwiftServer:
    """memcached + Swift account/container/object/proxy servers over one data directory."""

    def __init__(self, root: Path, ports: SwiftPorts) -> None:
        self.root = root
        self.ports = ports
        self.etc_dir = root / "etc"
        self.log_dir = root / "log"
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        atexit.register(self.stop)  # never leave servers behind if the session dies early
        self._write_configs()
        self._build_rings()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.ports.proxy}"

    @property
    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self._processes.items()}

    def _write_configs(self) -> None:
        for sub in ("etc", "log", "cache", "srv/node/d1"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        common = (
            "[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {port}\nworkers = 0\nuser = {user}\n"
            f"swift_dir = {self.etc_dir}\ndevices = {self.root / 'srv/node'}\n"
            f"mount_check = false\nrecon_cache_path = {self.root / 'cache'}\n"
            "log_address = /nonexistent-dev-log\n\n"
        )
        user = _current_user()
        for name in _BACKENDS:
            text = common.format(port=getattr(self.ports, name), user=user) + (
                f"[pipeline:main]\npipeline = {name}-server\n\n"
                f"[app:{name}-server]\nuse = egg:swift#{name}\n"
            )
            (self.etc_dir / f"{name}-server.conf").write_text(text)
        filters = {
            "catch_errors": "use = egg:swift#catch_errors",
            "gatekeeper": "use = egg:swift#gatekeeper",
            "healthcheck": "use = egg:swift#healthcheck",
            "proxy-logging": "use = egg:swift#proxy_logging",
            "cache": "use = egg:swift#memcache\n"
            f"memcache_servers = 127.0.0.1:{self.ports.memcached}",
            "listing_formats": "use = egg:swift#listing_formats",
            "s3api": f"use = egg:swift#s3api\nlocation = {REGION}",
            "tempauth": "use = egg:swift#tempauth\nuser_test_tester = testing .admin",
            "copy": "use = egg:swift#copy",
            "slo": "use = egg:swift#slo",
            "dlo": "use = egg:swift#dlo",
            "versioned_writes": "use = egg:swift#versioned_writes",
        }
        proxy = common.format(port=self.ports.proxy, user=user) + (
            f"[pipeline:main]\npipeline = {_PROXY_FILTERS}\n\n"
            "[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n"
            # The proxy shuns a backend for error_suppression_interval seconds after errors;
            # keep that short so a restarted backend serves again at once in fault tests.
            "error_suppression_interval = 1\n\n"
        )
        proxy += "".join(f"[filter:{name}]\n{body}\n\n" for name, body in filters.items())
        (self.etc_dir / "proxy-server.conf").write_text(proxy)

    def _build_rings(self) -> None:
        ports = [str(self.ports.account), str(self.ports.container), str(self.ports.object)]
        result = subprocess.run(
            [SYSTEM_PYTHON, "-c", _RING_SCRIPT, str(self.etc_dir), *ports],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            tail = result.stderr[-LOG_TAIL_CHARS:]
            raise SwiftStartupError(f"building Swift rings failed: {tail}")

    def _launch(self, name: str, argv: list[str]) -> None:
        log = (self.log_dir / f"{name}.log").open("ab")
        try:
            self._processes[name] = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        finally:
            log.close()

    def start(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Start every process not running and wait until signed S3 put + get succeed."""
        for name, proc in list(self._processes.items()):
            if proc.poll() is not None:
                del self._processes[name]
        if "memcached" not in self._processes:
            memcached = ["memcached", "-l", "127.0.0.1", "-p", str(self.ports.memcached), "-U", "0"]
            if os.geteuid() == 0:
                memcached += ["-u", "root"]
            self._launch("memcached", memcached)
        for name in (*_BACKENDS, "proxy"):
            if name not in self._processes:
                conf = self.etc_dir / f"{name}-server.conf"
                self._launch(name, [f"swift-{name}-server", str(conf), "-v"])
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout_s: float) -> None:
        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2, read=5), retries=False)
        client = Minio(
            self.endpoint, ACCESS_KEY, SECRET_KEY, secure=False, region=REGION, http_client=http
        )
        deadline = time.monotonic() + timeout_s
        last_error = "no attempt made"
        while time.monotonic() < deadline:
            for name, proc in self._processes.items():
                if proc.poll() is not None:
                    raise SwiftStartupError(
                        f"{name} exited with code {proc.returncode}\n{self.log_tails()}"
                    )
            try:
                self._probe(client)
                return
            except Exception as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.3)
        raise SwiftStartupError(
            f"Swift S3 at {self.endpoint} not ready after {timeout_s:.0f} s "
            f"(last error: {last_error})\n{self.log_tails()}"
        )

    @staticmethod
    def _probe(client: Minio) -> None:
        """A write and a read through every service (account, container, object)."""
        if not client.bucket_exists(READINESS_BUCKET):
            client.make_bucket(READINESS_BUCKET)
        client.put_object(READINESS_BUCKET, "probe", io.BytesIO(b"ok"), 2)
        response = client.get_object(READINESS_BUCKET, "probe")
        try:
            if response.read() != b"ok":
                raise SwiftStartupError("readiness probe read back wrong bytes")
        finally:
            response.close()
            response.release_conn()

    def stop_service(self, name: str) -> None:
        """Stop one process ('proxy', 'account', 'container', 'object', 'memcached')."""
        proc = self._processes.pop(name, None)
        if proc is None:
            raise KeyError(f"no running Swift process named {name!r}")
        _terminate(proc)

    def stop(self) -> None:
        """Stop every process by its own PID (SIGTERM, then SIGKILL); data stays on disk."""
        for name in ("proxy", *reversed(_BACKENDS), "memcached"):
            proc = self._processes.pop(name, None)
            if proc is not None:
                _terminate(proc)
        self._processes.clear()
        self._wait_ports_closed()

    def _wait_ports_closed(self) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT_S
        ports = (self.ports.proxy, self.ports.account, self.ports.container, self.ports.object)
        while time.monotonic() < deadline and not all(_port_is_free(p) for p in ports):
            time.sleep(0.1)

    def log_tails(self) -> str:
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
            parts.append(f"--- {path.name} ---\n{text}")
        return "\n".join(parts)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT_S)


def _current_user() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


@dataclass(frozen=True)
class S3Endpoint:
    """Where the test S3 listens and how to sign in; stop()/start() restart it, data kept."""

    endpoint: str
    access_key: str
    secret_key: str
    server: SwiftServer = field(repr=False, compare=False)
    region: str = REGION
    secure: bool = False

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def stop(self) -> None:
        """Stop every Swift process (S3 refuses connections); the data stays on disk."""
        self.server.stop()

    def start(self) -> None:
        """Start whatever is stopped; returns once S3 put + get work again."""
        self.server.start()

    def stop_service(self, name: str) -> None:
        """Stop one Swift process ('object', 'container', 'account', 'proxy', 'memcached')."""
        self.server.stop_service(name)


def start_swift(attempts: int = START_ATTEMPTS) -> tuple[SwiftServer, Path]:
    """Configure and start Swift in a fresh temp dir; new ports on each retry (port races)."""
    errors: list[str] = []
    for _attempt in range(attempts):
        root = Path(tempfile.mkdtemp(prefix="skynet-swift-"))
        server = SwiftServer(root, pick_ports())
        try:
            server.start()
        except SwiftStartupError as exc:
            errors.append(str(exc))
            shutil.rmtree(root, ignore_errors=True)
            continue
        return server, root
    raise SwiftStartupError(f"Swift failed to start {attempts} times; last:\n{errors[-1]}")


def swift_available() -> bool:
    return all(
        shutil.which(binary)
        for binary in ("memcached", "swift-proxy-server", "swift-object-server", SYSTEM_PYTHON)
    )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Endpoint]:
    """A real Swift + s3api on 127.0.0.1 for the whole test session."""
    if not swift_available():
        pytest.fail(
            "Swift is not installed: apt-get install swift swift-proxy swift-object "
            "swift-account swift-container python3-swift memcached"
        )
    server, root = start_swift()
    try:
        yield S3Endpoint(server.endpoint, ACCESS_KEY, SECRET_KEY, server=server)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
