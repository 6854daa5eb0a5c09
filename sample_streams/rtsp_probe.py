"""Minimal RTSP client on a socket (DESCRIBE/SETUP/PLAY/TEARDOWN over TCP) that probes mounts."""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

H264_IDR_NAL = 5
H264_STAP_A = 24
H264_FU_A = 28
RTP_VIDEO_CLOCK_HZ = 90_000  # the RTP clock of every video payload (RFC 6184)


class RtspProbeError(RuntimeError):
    """Raised when a mount does not answer, answers with an error status, or sends no media."""


@dataclass(frozen=True)
class MountProbe:
    """What one short RTSP session against a mount saw."""

    url: str
    sdp: str
    describe_s: float  # connect + DESCRIBE answered
    first_packet_s: float  # first RTP packet after PLAY, from connect
    first_keyframe_s: float | None  # first H.264 IDR slice, from connect (None: none in window)
    keyframe_media_offset_s: float | None  # RTP (media) time from the first packet to that IDR
    packets: int
    payload_bytes: int


@dataclass(frozen=True)
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes


class _RtspConnection:
    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "rtsp" or parts.hostname is None:
            raise ValueError(f"not an rtsp:// URL: {url!r}")
        self.url = url
        self._sock = socket.create_connection((parts.hostname, parts.port or 554), timeout_s)
        self._buffer = b""
        self._cseq = 0
        self.session = ""

    def close(self) -> None:
        self._sock.close()

    def _fill(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise RtspProbeError(f"{self.url}: server closed the connection")
        self._buffer += chunk

    def _take(self, count: int) -> bytes:
        while len(self._buffer) < count:
            self._fill()
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def request(self, method: str, url: str, extra: dict[str, str] | None = None) -> _Response:
        self._cseq += 1
        headers = {"CSeq": str(self._cseq), "User-Agent": "skynet-rtsp-probe", **(extra or {})}
        if self.session:
            headers["Session"] = self.session
        lines = [f"{method} {url} RTSP/1.0", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
        self._sock.sendall("\r\n".join(lines).encode())
        while True:
            self.skip_interleaved()
            while b"\r\n\r\n" not in self._buffer:
                self._fill()
            head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
            status_line, *header_lines = head.decode(errors="replace").split("\r\n")
            fields = dict(line.split(":", 1) for line in header_lines if ":" in line)
            parsed = {k.strip().lower(): v.strip() for k, v in fields.items()}
            body = self._take(int(parsed.get("content-length", "0")))
            if parsed.get("cseq") == str(self._cseq):
                break
        status = int(status_line.split()[1])
        if status != 200:
            raise RtspProbeError(f"{self.url}: {method} answered {status_line!r}")
        if "session" in parsed:
            self.session = parsed["session"].split(";")[0]
        return _Response(status, parsed, body)

    def skip_interleaved(self) -> None:
        """Drop interleaved media frames sitting in front of an RTSP response."""
        while True:
            while len(self._buffer) < 4:
                self._fill()
            if self._buffer[0:1] != b"$":
                return
            self.read_interleaved()

    def read_interleaved(self) -> tuple[int, bytes]:
        header = self._take(4)
        if header[0:1] != b"$":
            raise RtspProbeError(f"{self.url}: expected interleaved data, got {header!r}")
        return header[1], self._take(int.from_bytes(header[2:4], "big"))


def _is_keyframe(rtp_packet: bytes) -> bool:
    if len(rtp_packet) < 14:
        return False
    header_len = 12 + 4 * (rtp_packet[0] & 0x0F)
    payload = rtp_packet[header_len:]
    if len(payload) < 2:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type == H264_FU_A:
        return bool(payload[1] & 0x80) and (payload[1] & 0x1F) == H264_IDR_NAL
    if nal_type == H264_STAP_A:  # aggregated NALs: 2-byte size + NAL each
        offset = 1
        while offset + 3 <= len(payload):
            size = int.from_bytes(payload[offset:offset + 2], "big")
            if payload[offset + 2] & 0x1F == H264_IDR_NAL:
                return True
            offset += 2 + size
        return False
    return nal_type == H264_IDR_NAL


def _control_url(base: str, sdp: str) -> str:
    controls = [line[len("a=control:"):].strip() for line in sdp.splitlines()
                if line.startswith("a=control:")]
    media_controls = [c for c in controls if c != "*"]
    if not media_controls:
        return base
    control = media_controls[0]
    if control.startswith("rtsp://"):
        return control
    return base.rstrip("/") + "/" + control


def probe_mount(url: str, timeout_s: float = 5.0, watch_s: float = 0.0) -> MountProbe:
    """One RTSP session on `url`: DESCRIBE, SETUP (TCP), PLAY, read RTP, TEARDOWN.

    Reads until the first packet arrives, then for `watch_s` more seconds (or until the first
    keyframe when it comes later); raises RtspProbeError when nothing arrives in `timeout_s`.
    """
    start = time.monotonic()
    deadline = start + timeout_s
    try:
        conn = _RtspConnection(url, timeout_s)
    except OSError as exc:
        raise RtspProbeError(f"{url}: cannot connect: {exc}") from exc
    try:
        described = conn.request("DESCRIBE", url, {"Accept": "application/sdp"})
        describe_s = time.monotonic() - start
        sdp = described.body.decode(errors="replace")
        base = described.headers.get("content-base", url)
        conn.request("SETUP", _control_url(base, sdp),
                     {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
        conn.request("PLAY", url, {"Range": "npt=0-"})
        first_packet_s: float | None = None
        first_keyframe_s: float | None = None
        first_rtp_ts: int | None = None
        keyframe_media_offset_s: float | None = None
        packets = payload_bytes = 0
        while time.monotonic() < deadline:
            channel, data = conn.read_interleaved()
            if channel != 0:
                continue
            now_s = time.monotonic() - start
            packets += 1
            payload_bytes += len(data)
            rtp_ts = int.from_bytes(data[4:8], "big")
            if first_packet_s is None:
                first_packet_s, first_rtp_ts = now_s, rtp_ts
            if first_keyframe_s is None and _is_keyframe(data):
                first_keyframe_s = now_s
                assert first_rtp_ts is not None
                keyframe_media_offset_s = ((rtp_ts - first_rtp_ts) % 2**32) / RTP_VIDEO_CLOCK_HZ
            if first_keyframe_s is not None and now_s - first_packet_s >= watch_s:
                break
        if first_packet_s is None:
            raise RtspProbeError(f"{url}: no RTP packet within {timeout_s} s")
        with contextlib.suppress(OSError, RtspProbeError):  # the session is over either way
            conn.request("TEARDOWN", url)
        return MountProbe(url, sdp, describe_s, first_packet_s, first_keyframe_s,
                          keyframe_media_offset_s, packets, payload_bytes)
    except TimeoutError as exc:
        raise RtspProbeError(f"{url}: no answer within {timeout_s} s") from exc
    except ConnectionError as exc:
        raise RtspProbeError(f"{url}: {exc}") from exc
    finally:
        conn.close()
