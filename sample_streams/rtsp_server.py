"""GstRtspServer process (system python3 + python3-gi) relaying RTP/H.264 from UDP to RTSP mounts.

Run by sample_streams.server, never imported by the venv (a venv cannot import `gi`); it uses
only the standard library and gi so that /usr/bin/python3 can run it as a plain script.

Usage: /usr/bin/python3 rtsp_server.py '{"port": 8554, "mounts": {"/cam1/main": 5004}}'
(port 0 = any free port; optional "prepare_timeout_s", default 10). Prints `PREPARED <path>`
per mount as its media becomes ready, then `READY port=<bound port>` once it serves clients;
a mount with no stream by then is unmounted (404). SIGTERM / SIGINT stop it.

Each mount is `udpsrc ! rtpjitterbuffer ! rtph264depay ! h264parse ! rtph264pay`: an ffmpeg
feeder sends the camera file's packets as RTP (no re-encode), like a live camera that streams
whether or not anyone watches; h264parse re-inserts SPS/PPS before every IDR so a client that
joins mid-stream decodes from the next keyframe. Factories are shared (all clients of a mount
read one pipeline) and every mount's media is prepared at start-up and held, so a client's
DESCRIBE answers at once instead of waiting for the first keyframe of a fresh pipeline.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from typing import Any, TextIO

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

UDP_BUFFER_BYTES = 4 * 1024 * 1024  # a 1080p keyframe arrives as a burst of ~100+ packets
JITTER_LATENCY_MS = 100
PREPARE_TIMEOUT_S = 10.0  # a mount whose feeder sends nothing is left to prepare on demand


_OUTPUT_LOCK = threading.Lock()


def say(line: str, stream: TextIO = sys.stdout) -> None:
    """Write one whole line (prepare threads report concurrently)."""
    with _OUTPUT_LOCK:
        stream.write(line + "\n")
        stream.flush()


def mount_launch(udp_port: int) -> str:
    """The GStreamer launch line of one relaying mount fed on `udp_port`."""
    caps = "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96"
    return (
        # reuse=false: a UDP port clash fails loudly instead of splitting packets between mounts.
        f"( udpsrc address=127.0.0.1 port={udp_port} reuse=false "
        f'buffer-size={UDP_BUFFER_BYTES} caps="{caps}" '
        f"! rtpjitterbuffer latency={JITTER_LATENCY_MS} ! rtph264depay "
        "! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )


def build_server(port: int, mounts: dict[str, int]) -> Any:
    """A GstRtspServer bound to 127.0.0.1:`port` with one shared relaying mount per entry."""
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    table = server.get_mount_points()
    for path, udp_port in mounts.items():
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(mount_launch(udp_port))
        factory.set_shared(True)
        table.add_factory(path, factory)
    return server


class MediaHolder:
    """Prepares each mount's shared media once and keeps a prepare reference on it."""

    def __init__(self, server: Any, port: int) -> None:
        self._table = server.get_mount_points()
        self._port = port
        # One bus-handling loop for all held medias (the server's pool ties media to clients).
        self._thread = GstRtspServer.RTSPThread.new(GstRtspServer.RTSPThreadType.MEDIA)
        threading.Thread(target=self._thread.loop.run, name="media-bus", daemon=True).start()
        self._held: dict[str, Any] = {}
        self._lock = threading.Lock()

    def prepare(self, path: str) -> None:
        """Construct and prepare the shared media of `path` (blocks until its first keyframe)."""
        _, url = GstRtsp.RTSPUrl.parse(f"rtsp://127.0.0.1:{self._port}{path}")
        factory, _ = self._table.match(path)
        media = factory.construct(url) if factory is not None else None
        if media is None or not media.prepare(self._thread):
            return
        with self._lock:
            self._held[path] = media
        say(f"PREPARED {path}")

    def prepare_all(self, paths: list[str], timeout_s: float) -> None:
        """Prepare every mount concurrently (each waits for its stream's first keyframe)."""
        threads = [threading.Thread(target=self.prepare, args=(path,), daemon=True)
                   for path in paths]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + timeout_s
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            failed = [path for path in paths if path not in self._held]
        for path in failed:
            # A client joining a media stuck in preparation would block the server's main
            # loop for every client; unmount it so a request gets 404 instead.
            self._table.remove_factory(path)
            say(f"WARNING {path} got no stream within {timeout_s:g} s (feeder down or UDP port "
                "taken); unmounted", sys.stderr)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    config = json.loads(argv[1])
    mounts = {str(path): int(udp_port) for path, udp_port in config["mounts"].items()}
    Gst.init(None)
    server = build_server(int(config["port"]), mounts)
    if server.attach(None) == 0:
        print(f"ERROR cannot listen on 127.0.0.1:{config['port']}", file=sys.stderr, flush=True)
        return 1
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    bound_port = server.get_bound_port()
    # Clients are served only once loop.run() starts, so no client's DESCRIBE races these
    # prepares (two concurrent prepares of one shared media can leave it stuck).
    prepare_timeout_s = float(config.get("prepare_timeout_s", PREPARE_TIMEOUT_S))
    MediaHolder(server, bound_port).prepare_all(list(mounts), prepare_timeout_s)
    say(f"READY port={bound_port}")
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
