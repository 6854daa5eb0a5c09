"""Tests for sample footage, the RTSP probe and the local RTSP server (real ffmpeg + GStreamer)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from index.catalog import init_catalog, list_cameras, session_factory
from sample_streams.footage import (
    FPS,
    GOP_S,
    CameraFiles,
    build_cameras,
    build_fault_files,
    build_variant,
)
from sample_streams.rtsp_probe import RtspProbeError, probe_mount
from sample_streams.server import RtspServer, RtspServerError, pidfiles
from skynet.settings import Settings
from tests.servers.rtsp import REPO_ROOT, RunningRtsp, sample_cache_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TCP = {"rtsp_transport": "tcp"}
H264_SPS_NAL = 7


def _avcc_nal_types(packet: bytes) -> list[int]:
    """NAL unit types in one MP4 (4-byte length-prefixed) H.264 packet."""
    types, offset = [], 0
    while offset + 4 < len(packet):
        size = int.from_bytes(packet[offset : offset + 4], "big")
        types.append(packet[offset + 4] & 0x1F)
        offset += 4 + size
    return types


def _read_frames(url: str, count: int, timeout_s: float = 8.0) -> list[av.VideoFrame]:
    frames: list[av.VideoFrame] = []
    deadline = time.monotonic() + timeout_s
    with av.open(url, options=TCP, timeout=timeout_s) as container:
        for frame in container.decode(video=0):
            frames.append(frame)
            if len(frames) == count or time.monotonic() > deadline:
                break
    return frames


@pytest.mark.parametrize(
    ("which", "width_px", "height_px"), [("main", 1920, 1080), ("sub", 640, 360)]
)
def test_sample_files_have_camera_format(
    sample_cameras: list[CameraFiles], which: str, width_px: int, height_px: int
) -> None:
    path = getattr(sample_cameras[0], f"{which}_path")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.width, stream.height) == (width_px, height_px)
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.average_rate == Fraction(FPS)
        keyframe_indices, sps_on_keyframes = [], []
        for index, packet in enumerate(container.demux(stream)):
            if packet.size == 0:
                continue
            if packet.is_keyframe:
                keyframe_indices.append(index)
                sps_on_keyframes.append(H264_SPS_NAL in _avcc_nal_types(bytes(packet)))
            if index >= 4 * 50:
                break
    assert keyframe_indices[:4] == [0, 50, 100, 150]  # GOP 2 s at 25 fps
    assert all(sps_on_keyframes)  # repeat-headers=1: SPS/PPS in-band on every keyframe
    assert sample_cameras[0].duration_s == pytest.approx(79.5, abs=0.2)  # 795 frames at 10 fps


def test_build_is_idempotent_and_cameras_share_files(sample_cameras: list[CameraFiles]) -> None:
    mtime_ns = sample_cameras[0].main_path.stat().st_mtime_ns
    again = build_cameras(3, "busy", sample_cache_dir())
    assert [cam.camera_id for cam in again] == ["cam1", "cam2", "cam3"]
    assert [cam.start_offset_s for cam in again] == [0.0, 26.0, 52.0]  # staggered, on keyframes
    assert {cam.main_path for cam in again} == {sample_cameras[0].main_path}
    assert sample_cameras[0].main_path.stat().st_mtime_ns == mtime_ns


def test_build_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        build_cameras(0, "busy", tmp_path)
    with pytest.raises(ValueError, match="unknown footage variant"):
        build_variant("crowded", tmp_path)  # type: ignore[arg-type]


def _gray_at(path: Path, time_s: float) -> np.ndarray:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.time_base is not None
        container.seek(int(time_s / stream.time_base), stream=stream)
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= time_s:
                return frame.to_ndarray(format="gray").astype(np.int16)
    raise AssertionError(f"no frame at {time_s} s in {path}")


def test_typical_variant_is_empty_three_quarters_of_the_time() -> None:
    files = build_variant("typical", sample_cache_dir())
    assert files.duration_s == pytest.approx(80.0, abs=0.1)
    empty_a, empty_b = _gray_at(files.sub_path, 5.0), _gray_at(files.sub_path, 50.0)
    people = _gray_at(files.sub_path, 70.0)
    empty_changed = float(np.mean(np.abs(empty_a - empty_b) > 25))
    people_changed = float(np.mean(np.abs(empty_a - people) > 25))
    assert empty_changed < 0.001  # a static plate: the scene does not change
    assert people_changed > 5 * max(empty_changed, 0.0005)  # pedestrians appear in the last 1/4


def test_fault_files_fail_to_decode(sample_cameras: list[CameraFiles], tmp_path: Path) -> None:
    faults = build_fault_files(sample_cameras[0].sub_path, tmp_path)
    assert faults.truncated_path.stat().st_size < sample_cameras[0].sub_path.stat().st_size
    for damaged in (faults.truncated_path, faults.corrupt_path):
        with pytest.raises(av.error.InvalidDataError), av.open(str(damaged)) as container:
            for _ in container.decode(video=0):
                pass


def test_sub_stream_frames_over_tcp(rtsp_server: RunningRtsp) -> None:
    frames = _read_frames(rtsp_server.urls["cam1"].sub, count=10)
    assert len(frames) == 10
    assert (frames[0].width, frames[0].height) == (640, 360)


def test_probe_sees_h264_and_a_keyframe_within_the_gop(rtsp_server: RunningRtsp) -> None:
    probe = probe_mount(rtsp_server.urls["cam2"].main, timeout_s=10.0)
    assert "H264/90000" in probe.sdp
    # Media time, not wall time: a client joining mid-stream gets an IDR within one GOP of video.
    assert probe.keyframe_media_offset_s is not None
    assert probe.keyframe_media_offset_s <= GOP_S
    with pytest.raises(RtspProbeError, match="404"):
        probe_mount(f"rtsp://127.0.0.1:{rtsp_server.server.port}/nocam/sub", timeout_s=3.0)


def test_two_mounts_play_at_once(rtsp_server: RunningRtsp) -> None:
    urls = [
        rtsp_server.urls["cam1"].main,
        rtsp_server.urls["cam2"].sub,
        rtsp_server.urls["cam2"].sub,
    ]  # two clients on one shared mount, too
    results: dict[int, list[av.VideoFrame]] = {}

    def read(index: int) -> None:
        results[index] = _read_frames(urls[index], count=25, timeout_s=10.0)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(urls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15.0)
    assert [len(results.get(i, [])) for i in range(len(urls))] == [25, 25, 25]
    assert (results[0][0].width, results[1][0].width) == (1920, 640)


def test_cameras_sharing_files_show_different_moments(rtsp_server: RunningRtsp) -> None:
    urls = [rtsp_server.urls["cam1"].sub, rtsp_server.urls["cam2"].sub]
    grays: dict[int, np.ndarray] = {}

    def first_keyframe(index: int) -> None:
        frame = _read_frames(urls[index], count=1)[0]
        grays[index] = frame.to_ndarray(format="gray").astype(np.int16)

    threads = [threading.Thread(target=first_keyframe, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15.0)
    changed = float(np.mean(np.abs(grays[0] - grays[1]) > 25))
    assert changed > 0.002  # 38 s apart in the loop: the pedestrians are elsewhere


def test_restart_serves_again_and_stop_leaves_no_process(
    sample_cameras: list[CameraFiles], tmp_path: Path
) -> None:
    with RtspServer(tmp_path) as server:
        urls = server.start(sample_cameras[:1])
        port, pids = server.port, server.pids
        assert server.is_running and len(pids) == 2  # relay + one feeder for main and sub
        assert len(pidfiles(tmp_path)) == 1
        assert _read_frames(urls["cam1"].sub, count=3)
        server.restart()
        assert server.port == port and set(server.pids).isdisjoint(pids)
        assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
        assert len(_read_frames(urls["cam1"].sub, count=3)) == 3  # a new connection plays
        pids = server.pids
    assert not server.is_running
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert pidfiles(tmp_path) == []
    assert (tmp_path / "logs" / "rtsp_server.log").read_text().count("READY") == 2


def test_start_rejects_missing_file(tmp_path: Path) -> None:
    missing = CameraFiles("cam1", tmp_path / "no.mp4", tmp_path / "no_sub.mp4", 1.0, 25.0)
    with pytest.raises(FileNotFoundError, match=r"no\.mp4"):
        RtspServer(tmp_path).start([missing])


def test_start_fails_clearly_when_a_feed_is_not_video(
        sample_cameras: list[CameraFiles], tmp_path: Path) -> None:
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("this is not an MP4 file\n")
    bad = CameraFiles("cam1", not_video, sample_cameras[0].sub_path, 1.0, 25.0)
    server = RtspServer(tmp_path, prepare_timeout_s=1.5)
    with pytest.raises(RtspServerError, match="cam1/main"):
        server.start([bad])
    assert not server.is_running and server.pids == []
    assert pidfiles(tmp_path) == []
    log_text = (tmp_path / "logs" / "rtsp_server.log").read_text()
    assert "notes.mp4" in log_text  # ffmpeg's complaint names the file
    assert "/cam1/main got no stream" in log_text


def test_cli_serve_then_stop_by_pidfile(sample_cameras: list[CameraFiles], tmp_path: Path) -> None:
    for name in ("busy_main.mp4", "busy_sub.mp4", "busy.json"):  # reuse the cached build
        (tmp_path / name).symlink_to(sample_cache_dir() / name)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sample_streams",
            "--cache-dir",
            str(tmp_path),
            "serve",
            "--cameras",
            "1",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    )
    try:
        assert serve.stdout is not None
        first_line = serve.stdout.readline()
        assert first_line.startswith("cam1\tmain rtsp://127.0.0.1:")
        sub_url = first_line.split("sub ")[1].strip()
        assert probe_mount(sub_url).packets > 0
        recorded = pidfiles(tmp_path)
        assert len(recorded) == 1
        stopped = subprocess.run(
            [sys.executable, "-m", "sample_streams", "--cache-dir", str(tmp_path), "stop"],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO_ROOT,
            check=True,
        )
        assert "stopped 1 server" in stopped.stdout
        with pytest.raises(RtspProbeError):
            probe_mount(sub_url, timeout_s=2.0)
        assert pidfiles(tmp_path) == []
    finally:
        serve.terminate()
        serve.wait(timeout=10)


NOBODY_UID = 65534


def _stop_command(cache_dir: Path) -> str:
    stopped = subprocess.run(
        [sys.executable, "-m", "sample_streams", "--cache-dir", str(cache_dir), "stop"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        cwd=REPO_ROOT, check=True,
    )  # fmt: skip
    return stopped.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand a pidfile to another user")
def test_stop_leaves_other_users_servers_running(
    sample_cameras: list[CameraFiles], tmp_path: Path
) -> None:
    """A shared cache holds every user's pidfiles; `stop` acts on the caller's own only."""
    with RtspServer(tmp_path) as server:
        urls = server.start(sample_cameras[:1])
        (pidfile,) = (tmp_path / "run").glob("rtsp-*.json")
        os.chown(pidfile, NOBODY_UID, NOBODY_UID)  # as if another user had started it
        assert pidfiles(tmp_path) == []

        output = _stop_command(tmp_path)

        assert "stopped 0 server(s)" in output
        assert "left 1 server(s) of other users running" in output
        assert server.is_running and pidfile.exists()
        assert probe_mount(urls["cam1"].sub).packets > 0
        os.chown(pidfile, os.getuid(), os.getgid())  # the owner's own stop does stop it
        pids = server.pids
        assert "stopped 1 server(s)" in _stop_command(tmp_path)
        assert not server.is_running and not pidfile.exists()
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)  # reaped by the with's stop()


def _readme_block(containing: str) -> list[str]:
    """The lines of the README's bash block that contains `containing`."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO_ROOT / "README.md").read_text(), re.S)
    (block,) = [block for block in blocks if containing in block]
    return [line for line in block.splitlines() if line.strip()]


def _as_run_here(line: str, rtsp_port: int) -> list[str]:
    """A README command line with this test's executables and RTSP port."""
    line = line.replace(":8554", f":{rtsp_port}").replace("--port 8554", f"--port {rtsp_port}")
    program, *args = shlex.split(line)
    executables = {".venv/bin/python": sys.executable,
                   ".venv/bin/skynet": str(Path(sys.executable).with_name("skynet"))}
    return [executables[program], *args]


def test_readme_sample_cameras_for_skynet_serve(
    sample_cameras: list[CameraFiles], tmp_path: Path
) -> None:
    """The README's commands, pasted: the sample server serves what `camera add` registers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        rtsp_port = probe.getsockname()[1]
    (serve_line,) = _readme_block("sample_streams serve")
    env = {**os.environ, "SKYNET_DATA_DIR": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    serve = subprocess.Popen(_as_run_here(serve_line, rtsp_port), env=env, cwd=REPO_ROOT,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert serve.stdout is not None
        printed = [serve.stdout.readline() for _ in range(3)]
        assert printed[2].startswith(f"serving on 127.0.0.1:{rtsp_port}"), printed
        for line in _readme_block("skynet camera add cam1 --main rtsp://127.0.0.1:8554"):
            if not line.endswith("skynet serve"):  # the rest of the product is tested elsewhere
                subprocess.run(_as_run_here(line, rtsp_port), env=env, cwd=REPO_ROOT,
                               check=True, capture_output=True)
        with session_factory(init_catalog(Settings(data_dir=tmp_path).catalog_url))() as session:
            cameras = list_cameras(session)
        assert [spec.id for spec in cameras] == ["cam1", "cam2"]
        for spec in cameras:
            assert spec.sub_url is not None
            for url in (spec.main_url, spec.sub_url):
                assert url in "".join(printed)  # what the server printed it serves
                assert probe_mount(url).packets > 0
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=20)
