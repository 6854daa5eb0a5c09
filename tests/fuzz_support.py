"""A real `skynet serve` over a seeded catalog, and schemathesis run against its OpenAPI.

Used by tests/api/test_fuzz.py (the suite's bar) and bench/fuzz.py (the figures in
BENCHMARKS.md). The catalog holds real tracks (tests/api_support.py) with its cameras disabled,
so the server opens no stream. Schemathesis' HAR report is the count of what was sent and
what came back.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from index.catalog import create_api_key, list_cameras, upsert_camera
from search_api.app import API_PREFIX
from tests.api_support import api_env
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[1]
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
SEED = 20261206


@dataclass(frozen=True)
class LiveApi:
    base_url: str
    admin_key: str
    workdir: Path


@dataclass(frozen=True)
class FuzzRun:
    """One schemathesis run: response statuses of every request, unique failures by check
    (schemathesis' summary, e.g. "ST103 Undocumented status code"), its output."""

    statuses: Counter[int]
    statuses_by_route: dict[str, set[int]]  # by the first path segment under /api/v1
    failures: dict[str, int]
    passed: bool
    output: str

    @property
    def cases(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def nonconforming(self) -> int:
        """Unique failures of the conformance checks (server errors are counted apart)."""
        return sum(n for check, n in self.failures.items() if "server error" not in check.lower())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def seeded_server(root: Path, extra_env: dict[str, str] | None = None) -> Iterator[LiveApi]:
    """`skynet serve` on a free loopback port over a catalog seeded under `root`."""
    with api_env(root) as env, env.context.sessions() as session:
        for camera in list_cameras(session):
            upsert_camera(session, replace(camera, enabled=False))  # no stream is opened
        admin_key = create_api_key(session, "fuzz-admin", "admin")
        session.commit()
    port = _free_port()
    environment = {
        **os.environ,
        **(extra_env or {}),
        "SKYNET_DATA_DIR": str(root),
        "SKYNET_API_PORT": str(port),
        "PYTHONPATH": str(REPO),
    }
    with (root / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "skynet", "serve"],
            cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base_url = f"http://127.0.0.1:{port}"
        try:
            up = wait_for(lambda: _answers(f"{base_url}/openapi.json"), timeout_s=120, poll_s=0.5)
            if not up:
                raise RuntimeError((root / "serve.log").read_text()[-3000:])
            yield LiveApi(base_url, admin_key, root)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


def fuzz(api: LiveApi, name: str, headers: list[str], max_examples: int) -> FuzzRun:
    """Run schemathesis over every operation of the live OpenAPI (one worker: two threads
    once crashed hypothesis with CPython 3.11's "AST constructor recursion depth mismatch")."""
    har = api.workdir / f"{name}.har"
    command = [
        str(Path(sys.executable).with_name("st")), "run", f"{api.base_url}/openapi.json",
        "--checks", CHECKS, "--max-examples", str(max_examples), "--seed", str(SEED),
        "--workers", "1", "--request-timeout", "60", "--suppress-health-check", "all",
        "--generation-database", "none", "--no-color",
        "--report", "har", "--report-har-path", str(har),
    ]  # fmt: skip
    for header in headers:
        command += ["--header", header]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    entries = json.loads(har.read_text())["log"]["entries"]
    statuses = Counter(int(entry["response"]["status"]) for entry in entries)
    by_route: dict[str, set[int]] = {}
    for entry in entries:
        path = urlsplit(entry["request"]["url"]).path.removeprefix(API_PREFIX + "/")
        by_route.setdefault(path.split("/")[0], set()).add(int(entry["response"]["status"]))
    _, heading, rest = result.stdout.rpartition("Failures:")
    summary = rest.partition("\n\n")[0] if heading else ""
    failures = {m[1]: int(m[2]) for m in re.finditer(r"❌ (.+): (\d+)", summary)}
    output = f"{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    return FuzzRun(statuses, by_route, failures, result.returncode == 0, output)
