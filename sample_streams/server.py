"""Local RTSP test server: runs the GStreamer relay and ffmpeg feeders, stops them by their PIDs."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from sample_streams.footage import CameraFiles, resolve_cache_dir
from sample_streams.rtsp_probe import MountProbe, RtspProbeError, probe_mount

SYSTEM_PYTHON = Path("/usr/bin/python3")
GST_SCRIPT = Path(__file__).with_name("rtsp_server.py")
RTP_PACKET_BYTES = 1200
STOP_GRACE_S = 3.0
UDP_PORT_FLOOR = 20000
START_ATTEMPTS = 2
MOUNT_PROBE_S = 6.0  # > GOP (2 s): time for a mount to answer and send a keyframe
# Relay log level: errors everywhere, warnings from the UDP sources.
RELAY_GST_DEBUG = "1,udpsrc:2"


class RtspServerError(RuntimeError):
    """Raised when the RTSP server cannot start, or a mount does not come up."""


@dataclass(frozen=True)
class StreamUrls:
    """The two RTSP URLs of one camera."""

    main: str
    sub: str


@dataclass(frozen=True)
class _Feed:
    camera_id: str
    stream: str  # "main" | "sub"
    path: Path
    udp_port: int
    start_offset_s: float

    @property
    def mount(self) -> str:
        return f"/{self.camera_id}/{self.stream}"


def _ephemeral_port_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_udp_ports(count: int) -> list[int]:
    """`count` even UDP ports P on 127.0.0.1, each with P+1 also free a moment ago.

    Taken below the kernel's ephemeral range: the feeders' own sending sockets and the relay's
    RTP sessions bind ephemeral ports, which must not land on a mount's port. ffmpeg sends
    RTCP to P+1, so that port is kept out of every other mount's way too.
    """
    ceiling = min(_ephemeral_port_floor(), 32768) - 2
    floor = UDP_PORT_FLOOR
    if ceiling - floor < 4 * count:
        raise RtspServerError(f"not enough UDP ports below {ceiling + 2} for {count} mounts")
    start = random.randrange(floor, ceiling) & ~1
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        for offset in range(0, ceiling - floor, 2):
            port = floor + (start - floor + offset) % (ceiling - floor) & ~1
            pair = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
            try:
                pair[0].bind(("127.0.0.1", port))
                pair[1].bind(("127.0.0.1", port + 1))
            except OSError:
                for sock in pair:
                    sock.close()
                continue
            held += pair
            ports.append(port)
            if len(ports) == count:
                return ports
        raise RtspServerError(f"found only {len(ports)} free UDP port pairs, need {count}")
    finally:
        for sock in held:  # held together so no pick repeats; released for the relay to bind
            sock.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it has exited as far as we are concerned.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _ours(pid: int) -> bool:
    """Whether `pid` is still a process this module starts (guards against PID reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return GST_SCRIPT.name.encode() in cmdline or b"ffmpeg" in cmdline


def stop_pids(pids: Sequence[int], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM each process group leader's group, then SIGKILL what is left after `grace_s`."""
    targets = [pid for pid in pids if _alive(pid) and _ours(pid)]
    for pid in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(pid) for pid in targets):
        time.sleep(0.05)
    for pid in targets:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


def _owner_uid(path: Path) -> int | None:
    try:
        return path.stat().st_uid
    except OSError:  # removed meanwhile by its server's stop()
        return None


def _recorded(cache_dir: Path | str | None) -> list[Path]:
    return sorted((resolve_cache_dir(cache_dir) / "run").glob("rtsp-*.json"))


def pidfiles(cache_dir: Path | str | None = None) -> list[Path]:
    """Pidfiles of this user's servers started from this cache dir (one per running server).

    The cache may be shared by several users ($SKYNET_SAMPLE_STREAMS_DIR): a pidfile belongs to
    the user who wrote it (its file owner), and only that user's stop commands act on it.
    """
    return [path for path in _recorded(cache_dir) if _owner_uid(path) == os.getuid()]


def other_users_pidfiles(cache_dir: Path | str | None = None) -> list[Path]:
    """Pidfiles in this cache dir that other users' servers wrote (never stopped from here)."""
    return [path for path in _recorded(cache_dir) if _owner_uid(path) not in (None, os.getuid())]


def _read_pidfile(pidfile: Path) -> tuple[list[int], int]:
    """(child PIDs, owner PID) recorded in a pidfile; ([], 0) when unreadable."""
    try:
        record = json.loads(pidfile.read_text())
        return [int(pid) for pid in record["pids"]], int(record.get("owner", 0))
    except (OSError, ValueError, KeyError, TypeError):
        return [], 0


def rotated_copy(path: Path, offset_s: float, cache_dir: Path) -> Path:
    """`path` rotated to start at the keyframe `offset_s` (stream copy, cached).

    ffmpeg's `-ss` with `-stream_loop` replays the skipped head as a burst on every loop, so a
    staggered camera loops a rotated file instead: [offset, end) followed by [0, offset).
    """
    if offset_s <= 0:
        return path
    target = cache_dir / f"{path.stem}_from{offset_s:g}s{path.suffix}"
    if target.is_file() and target.stat().st_mtime >= path.stat().st_mtime:
        return target
    work = cache_dir / f".rotate.{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        head, tail = work / f"head{path.suffix}", work / f"tail{path.suffix}"
        ffmpeg = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
        subprocess.run([*ffmpeg, "-ss", f"{offset_s:g}", "-i", str(path), "-c", "copy", str(tail)],
                       check=True)
        subprocess.run([*ffmpeg, "-i", str(path), "-t", f"{offset_s:g}", "-c", "copy", str(head)],
                       check=True)
        listing = work / "list.txt"
        listing.write_text(f"file '{tail}'\nfile '{head}'\n")
        joined = work / f"joined{path.suffix}"
        subprocess.run([*ffmpeg, "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
                        "-movflags", "+faststart", str(joined)], check=True)
        joined.replace(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def stop_all(cache_dir: Path | str | None = None) -> int:
    """Stop this user's servers recorded under `cache_dir` by their PIDs; returns how many."""
    stopped = 0
    for pidfile in pidfiles(cache_dir):
        stop_pids(_read_pidfile(pidfile)[0])
        pidfile.unlink(missing_ok=True)
        stopped += 1
    return stopped


def stop_orphans(cache_dir: Path | str | None = None) -> int:
    """Stop this user's servers whose owning process has died (e.g. a killed test run);
    returns how many."""
    stopped = 0
    for pidfile in pidfiles(cache_dir):
        pids, owner = _read_pidfile(pidfile)
        if owner and _alive(owner):
            continue
        stop_pids(pids)
        pidfile.unlink(missing_ok=True)
        stopped += 1
    return stopped


class RtspServer:
    """GstRtspServer on 127.0.0.1 relaying looping sample files, one mount per camera stream."""

    def __init__(self, cache_dir: Path | str | None = None, port: int = 0,
                 startup_timeout_s: float = 20.0, prepare_timeout_s: float = 10.0) -> None:
        self.cache_dir = resolve_cache_dir(cache_dir)
        self.port = port  # 0 until started with a free port; then the bound port
        self.startup_timeout_s = startup_timeout_s
        self.prepare_timeout_s = prepare_timeout_s  # relay: a mount silent this long is dropped
        self.log_path = self.cache_dir / "logs" / "rtsp_server.log"
        self.urls: dict[str, StreamUrls] = {}
        self.cameras: list[CameraFiles] = []
        self.probes: dict[str, MountProbe] = {}  # mount URL -> warm-up probe from start()
        self._gst: subprocess.Popen[bytes] | None = None
        self._feeders: list[subprocess.Popen[bytes]] = []
        self._pidfile: Path | None = None

    @property
    def pids(self) -> list[int]:
        """PIDs of the server process and the feeders (each leads its own process group)."""
        procs = ([self._gst] if self._gst else []) + self._feeders
        return [proc.pid for proc in procs]

    @property
    def is_running(self) -> bool:
        """True while the relay and every feeder process are alive."""
        procs = ([self._gst] if self._gst else []) + self._feeders
        return bool(procs) and all(proc.poll() is None for proc in procs)

    def url(self, camera_id: str, stream: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{camera_id}/{stream}"

    def start(self, cameras: Sequence[CameraFiles]) -> dict[str, StreamUrls]:
        """Start feeders and the relay, wait until every mount streams; camera_id -> URLs."""
        if self._gst is not None:
            raise RtspServerError("server already started; call stop() or restart()")
        if not cameras:
            raise ValueError("start() needs at least one camera")
        if len({cam.camera_id for cam in cameras}) != len(cameras):
            raise ValueError("camera ids must be unique")
        for cam in cameras:
            for path in (cam.main_path, cam.sub_path):
                if not Path(path).is_file():
                    raise FileNotFoundError(f"camera {cam.camera_id}: file {path} does not exist")
        if not SYSTEM_PYTHON.is_file() or shutil.which("ffmpeg") is None:
            raise RtspServerError("needs /usr/bin/python3 with python3-gi and ffmpeg (apt)")
        self.cameras = list(cameras)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        streams = [(cam.camera_id, stream, Path(path), cam.start_offset_s) for cam in cameras
                   for stream, path in (("main", cam.main_path), ("sub", cam.sub_path))]
        for attempt in range(1, START_ATTEMPTS + 1):
            # Fresh UDP ports per attempt: another process may grab a port between our pick
            # and the relay's bind (udpsrc reuse=false makes that fail instead of mixing).
            feeds = [_Feed(camera_id, stream, path, udp_port, offset_s)
                     for (camera_id, stream, path, offset_s), udp_port
                     in zip(streams, free_udp_ports(len(streams)), strict=True)]
            try:
                self._start_feeders(feeds)
                self._start_relay(feeds)
                self._wait_mounts(feeds)
                break
            except RtspServerError:
                self.stop()
                if attempt == START_ATTEMPTS:
                    raise
            except BaseException:
                self.stop()
                raise
        self.urls = {
            cam.camera_id: StreamUrls(self.url(cam.camera_id, "main"),
                                      self.url(cam.camera_id, "sub"))
            for cam in cameras
        }
        return dict(self.urls)

    def _log_file(self) -> int:
        return os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _start_feeders(self, feeds: list[_Feed]) -> None:
        """One ffmpeg per camera sends both of its files as RTP, looping, at real-time pace."""
        by_camera: dict[str, list[_Feed]] = {}
        for feed in feeds:
            by_camera.setdefault(feed.camera_id, []).append(feed)
        log_fd = self._log_file()
        try:
            for camera_feeds in by_camera.values():
                args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning"]
                for feed in camera_feeds:
                    looped = rotated_copy(feed.path, feed.start_offset_s, self.cache_dir)
                    args += ["-re", "-stream_loop", "-1", "-i", str(looped)]
                for index, feed in enumerate(camera_feeds):
                    args += ["-map", f"{index}:v:0", "-an", "-c:v", "copy", "-f", "rtp",
                             f"rtp://127.0.0.1:{feed.udp_port}?pkt_size={RTP_PACKET_BYTES}"]
                self._feeders.append(subprocess.Popen(
                    args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_fd,
                    start_new_session=True,
                ))
        finally:
            os.close(log_fd)
        self._write_pidfile()

    def _start_relay(self, feeds: list[_Feed]) -> None:
        config = json.dumps({"port": self.port, "prepare_timeout_s": self.prepare_timeout_s,
                             "mounts": {f.mount: f.udp_port for f in feeds}})
        log_fd = self._log_file()
        try:
            env = {"GST_DEBUG": RELAY_GST_DEBUG, "GST_DEBUG_NO_COLOR": "1", **os.environ}
            self._gst = subprocess.Popen(
                [str(SYSTEM_PYTHON), str(GST_SCRIPT), config], env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log_fd,
                start_new_session=True,
            )
        finally:
            os.close(log_fd)
        self._write_pidfile()
        ready: list[str] = []
        got_line = threading.Event()
        threading.Thread(target=self._pump_stdout, args=(self._gst, ready, got_line),
                         name="rtsp-stdout", daemon=True).start()
        if not got_line.wait(self.startup_timeout_s) or not ready:
            raise RtspServerError(f"RTSP relay did not start; see {self.log_path}:\n{self._tail()}")
        line = ready[0]
        if not line.startswith("READY port="):
            raise RtspServerError(
                f"RTSP relay failed: {line!r}; see {self.log_path}:\n{self._tail()}")
        self.port = int(line.split("=", 1)[1])
        self._write_pidfile()

    def _pump_stdout(self, proc: subprocess.Popen[bytes], first: list[str],
                     got_line: threading.Event) -> None:
        assert proc.stdout is not None
        with open(self.log_path, "a") as log:
            for raw in proc.stdout:
                line = raw.decode(errors="replace").strip()
                log.write(f"rtsp_server.py: {line}\n")
                log.flush()
                if line and not first and not line.startswith("PREPARED"):
                    first.append(line)
                    got_line.set()
        got_line.set()  # the process ended without a READY line

    def _wait_mounts(self, feeds: list[_Feed]) -> None:
        """Probe every mount once (this also drains the backlog queued before the first client)."""
        # The relay says READY only once every mount is prepared (or unmounted), so one
        # probe per mount suffices; it waits at most for the mount's next keyframe.
        def probe(feed: _Feed) -> MountProbe:
            return probe_mount(self.url(feed.camera_id, feed.stream), timeout_s=MOUNT_PROBE_S)

        try:
            with ThreadPoolExecutor(max_workers=min(8, len(feeds))) as pool:
                for feed, result in zip(feeds, pool.map(probe, feeds), strict=True):
                    self.probes[self.url(feed.camera_id, feed.stream)] = result
        except RtspProbeError as exc:
            raise RtspServerError(f"{exc}; see {self.log_path}:\n{self._tail()}") from exc

    def _tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _write_pidfile(self) -> None:
        run_dir = self.cache_dir / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        new_path = run_dir / f"rtsp-{self.port or os.getpid()}.json"
        if self._pidfile is not None and self._pidfile != new_path:
            self._pidfile.unlink(missing_ok=True)
        self._pidfile = new_path
        tmp = new_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"port": self.port, "pids": self.pids, "owner": os.getpid()}))
        tmp.replace(new_path)

    def stop(self) -> None:
        """Stop the relay and all feeders by their PIDs (process groups); remove the pidfile."""
        procs = ([self._gst] if self._gst else []) + self._feeders
        stop_pids([proc.pid for proc in procs])
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL was sent already
                proc.wait(timeout=STOP_GRACE_S)
            if proc.stdout is not None:
                proc.stdout.close()
        self._gst = None
        self._feeders = []
        self.probes = {}
        if self._pidfile is not None:
            self._pidfile.unlink(missing_ok=True)
            self._pidfile = None

    def restart(self) -> dict[str, StreamUrls]:
        """Stop, then start the same cameras on the same port (clients must reconnect)."""
        if not self.cameras:
            raise RtspServerError("restart() needs a server that was started before")
        cameras = self.cameras
        self.stop()
        return self.start(cameras)

    def __enter__(self) -> RtspServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

