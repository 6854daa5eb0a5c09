"""Module fixture for a real local Ray cluster: a head node and two worker nodes, each its own
`ray start --block` process (pid recorded), stopped by those pids at teardown.

The head has no CPUs (it only runs the cluster's control plane, as a production head would), so
work lands on the two one-CPU worker nodes. Every port whose Ray default is fixed (GCS 6379,
dashboard 8265, dashboard agent 52365) is a free one, so parallel test sessions do not meet.
Ray 2.60 listens on all interfaces and advertises the host's address whatever
`--node-ip-address` says, without authentication: a test cluster lives for one test module.
`ray stop` is never used: it stops every Ray process on the machine, other people's clusters
included. The temporary directory lives directly under /tmp because Ray's unix sockets sit
several levels below it and socket paths are limited to 107 bytes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
RAY_BIN = Path(sys.executable).with_name("ray")
HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
WORKER_NODES = 2
STARTED_LINE = "Ray runtime started"
OBJECT_STORE_BYTES = 100 * 1024 * 1024  # Ray's default takes 30 % of RAM per node


@dataclass(frozen=True)
class RayNode:
    """One `ray start --block` process: it supervises the node's raylet and workers."""

    name: str
    pid: int
    log_path: Path


@dataclass(frozen=True)
class RayCluster:
    """A running local cluster: where drivers connect, its directory and its node processes."""

    address: str  # host:port of the head's GCS, what `SKYNET_RAY_ADDRESS` holds
    temp_dir: Path
    head: RayNode
    workers: tuple[RayNode, ...]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _node_env() -> dict[str, str]:
    """The nodes' environment: this checkout importable by the workers, no usage reporting."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return env


def _launch(name: str, args: list[str], root: Path) -> tuple[RayNode, subprocess.Popen[bytes]]:
    log_path = root / f"{name}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [str(RAY_BIN), "start", "--block", *args],
            stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=_node_env(),
            start_new_session=True,  # its own process group: the node's children die with it
        )  # fmt: skip
    return RayNode(name, process.pid, log_path), process


def _wait_started(node: RayNode, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        log = node.log_path.read_text(errors="replace")
        if STARTED_LINE in log:
            return
        if process.poll() is not None:
            raise RuntimeError(
                f"ray node {node.name} exited ({process.returncode}):\n{log[-3000:]}"
            )
        time.sleep(0.2)
    raise RuntimeError(f"ray node {node.name} did not start in {START_TIMEOUT_S:g} s")


def _common_args() -> list[str]:
    return [
        "--disable-usage-stats",
        f"--object-store-memory={OBJECT_STORE_BYTES}",
        f"--dashboard-agent-listen-port={_free_port()}",
    ]  # fmt: skip


def _wait_for_nodes(address: str, count: int) -> None:
    """Wait until the head lists `count` live nodes (worker raylets register after starting)."""
    import ray

    ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while sum(1 for node in ray.nodes() if node["Alive"]) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"ray cluster at {address} never had {count} live nodes")
            time.sleep(0.2)
    finally:
        ray.shutdown()


def stop_node(node: RayNode, process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the node's `ray start` (it stops its raylet and workers), then SIGKILL its
    process group, whatever of it is left (the group is this node's: start_new_session)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(node.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.pid, signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def local_ray_cluster(worker_nodes: int = WORKER_NODES) -> Iterator[RayCluster]:
    """Head + `worker_nodes` one-CPU worker nodes on 127.0.0.1; stopped by pid on leaving."""
    if not RAY_BIN.exists():
        raise RuntimeError("ray is not installed: run scripts/setup.sh (the `ray` extra)")
    root = Path(tempfile.mkdtemp(prefix="skynet-ray-"))
    started: list[tuple[RayNode, subprocess.Popen[bytes]]] = []
    try:
        port = _free_port()
        address = f"{HOST}:{port}"
        head = _launch(
            "head",
            [
                "--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false",
                f"--dashboard-port={_free_port()}", f"--temp-dir={root / 'ray'}",
                *_common_args(),
            ],
            root,
        )  # fmt: skip
        started.append(head)
        _wait_started(*head)
        for index in range(1, worker_nodes + 1):
            worker = _launch(
                f"worker{index}",
                [f"--address={address}", "--num-cpus=1", *_common_args()],
                root,
            )
            started.append(worker)
            _wait_started(*worker)
        _wait_for_nodes(address, 1 + worker_nodes)
        yield RayCluster(address, root, head[0], tuple(node for node, _ in started[1:]))
    finally:
        for node, process in reversed(started):  # workers first, the head last
            stop_node(node, process)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    """A local cluster (head + two worker nodes) for one test module; always stopped by pid."""
    if not RAY_BIN.exists():
        pytest.fail("ray is not installed: run scripts/setup.sh (make test installs the extra)")
    with local_ray_cluster() as cluster:
        yield cluster
