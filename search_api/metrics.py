"""Prometheus metrics of the live pipeline, read from the runtime's camera status on scrape."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ingest.camera_status import CAMERA_STATES, CameraStatus

_GAUGES: tuple[tuple[str, str, Callable[[CameraStatus], float]], ...] = (
    ("input_fps", "Packets per second read from the main stream", lambda s: s.input_fps),
    ("analysed_fps", "Frames per second analysed", lambda s: s.analysed_fps),
    ("lag_seconds", "Seconds from a frame's arrival to its analysis", lambda s: s.lag_s),
    (
        "sample_stride",
        "Above 1 while analysis sheds load (samples detect_fps / stride)",
        lambda s: s.sample_stride,
    ),
    ("spool_pending_segments", "Segments waiting for upload", lambda s: s.spool_pending_segments),
    ("storage_down", "1 while object storage refuses uploads", lambda s: float(s.storage_down)),
)
_COUNTERS: tuple[tuple[str, str, Callable[[CameraStatus], float]], ...] = (
    ("reconnects", "Stream reconnects", lambda s: s.reconnects),
    ("frames_sampled", "Frames passed to analysis", lambda s: s.frames_sampled),
    ("frames_gated", "Frames skipped by the motion gate", lambda s: s.frames_gated),
    ("frames_dropped", "Frames dropped because analysis fell behind", lambda s: s.frames_dropped),
    ("corrupt_packets", "Corrupt packets skipped", lambda s: s.corrupt_packets),
    ("spool_dropped_segments", "Segments lost to a full spool", lambda s: s.spool_dropped_segments),
)


class CameraCollector(Collector):
    """One metric family per camera figure, labelled by camera id."""

    def __init__(
        self,
        camera_status: Callable[[], dict[str, CameraStatus]],
        tracks_indexed: Callable[[], int],
    ) -> None:
        self._camera_status = camera_status
        self._tracks_indexed = tracks_indexed

    def collect(self) -> Iterator[Metric]:
        statuses = self._camera_status()
        state = GaugeMetricFamily(
            "skynet_camera_state", "1 for the camera's current state", labels=["camera", "state"]
        )
        for camera_id, status in statuses.items():
            for name in CAMERA_STATES:
                state.add_metric([camera_id, name], float(status.state == name))
        yield state
        for name, doc, value in _GAUGES:
            gauge = GaugeMetricFamily(f"skynet_camera_{name}", doc, labels=["camera"])
            for camera_id, status in statuses.items():
                gauge.add_metric([camera_id], value(status))
            yield gauge
        for name, doc, value in _COUNTERS:
            counter = CounterMetricFamily(f"skynet_camera_{name}", doc, labels=["camera"])
            for camera_id, status in statuses.items():
                counter.add_metric([camera_id], value(status))
            yield counter
        yield GaugeMetricFamily(
            "skynet_tracks_indexed", "Tracks in the vector index", value=self._tracks_indexed()
        )


def render_metrics(
    camera_status: Callable[[], dict[str, CameraStatus]], tracks_indexed: Callable[[], int]
) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CameraCollector(camera_status, tracks_indexed))
    return generate_latest(registry)
