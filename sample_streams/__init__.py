"""Sample camera footage recipes and the local RTSP server used by demo, tests and benchmarks.

footage      build_cameras(count, mix, cache_dir) -> list[CameraFiles]: 1080p main + 640x360 sub
             H.264 files from vtest.avi ("busy" or "typical"), cached by recipe hash.
server       RtspServer: start(cameras) -> {camera_id: StreamUrls(main, sub)}, stop(), restart().
rtsp_server  the GstRtspServer relay script, run by /usr/bin/python3 (needs python3-gi).
rtsp_probe   probe_mount(url): one raw RTSP session, to check that a mount streams.
CLI          python -m sample_streams build|serve|stop --help
"""
