"""Command line: `python -m sample_streams build|serve|stop` (sample footage, RTSP server)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from sample_streams.footage import VARIANTS, build_cameras, resolve_cache_dir
from sample_streams.server import RtspServer, other_users_pidfiles, stop_all


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sample_streams", description=__doc__)
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where files, logs and pidfiles go (default var/sample_streams or "
                             "$SKYNET_SAMPLE_STREAMS_DIR)")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("build", "build the sample camera files"),
                       ("serve", "build, then serve cameras over RTSP until Ctrl-C")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--cameras", type=int, default=1, help="number of cameras (cam1..N)")
        command.add_argument("--mix", choices=VARIANTS, default="busy",
                             help="busy: vtest people all the time; typical: empty 3/4 of the time")
    serve = commands.choices["serve"]
    serve.add_argument("--port", type=int, default=0, help="RTSP port (default: a free one)")
    commands.add_parser("stop", help="stop your servers started from this cache dir (by their "
                                     "recorded PIDs; other users' servers are left alone)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cache_dir = resolve_cache_dir(args.cache_dir)
    if args.command == "stop":
        print(f"stopped {stop_all(cache_dir)} server(s)")
        others = len(other_users_pidfiles(cache_dir))
        if others:
            print(f"left {others} server(s) of other users running")
        return 0
    cameras = build_cameras(args.cameras, args.mix, cache_dir)
    if args.command == "build":
        for cam in cameras:
            print(f"{cam.camera_id}\t{cam.main_path}\t{cam.sub_path}\t{cam.duration_s:.1f}s")
        return 0
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    with RtspServer(cache_dir, port=args.port) as server:
        urls = server.start(cameras)
        for camera_id, pair in urls.items():
            print(f"{camera_id}\tmain {pair.main}\tsub {pair.sub}", flush=True)
        print(f"serving on 127.0.0.1:{server.port}; log {server.log_path}; Ctrl-C stops",
              flush=True)
        while not done.wait(1.0):
            if not server.is_running:
                print(f"a server process exited; see {server.log_path}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
