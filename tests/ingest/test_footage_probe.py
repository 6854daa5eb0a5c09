"""What an operator reads when an uploaded file is not video: ffprobe's complaint, without its
version banner or the server's working path (the footage upload's `error`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.footage_probe import FootageFileError, probe_footage


def test_a_file_that_is_not_video_is_refused_with_ffprobes_reason_only(tmp_path: Path) -> None:
    work_dir = tmp_path / "footage" / "0123abcd"
    work_dir.mkdir(parents=True)
    notes = work_dir / "original"
    notes.write_bytes(b"meeting notes, not a video\n" * 50)
    with pytest.raises(FootageFileError) as refused:
        probe_footage(notes)
    message = str(refused.value)
    assert message.startswith("not a video file ffprobe can read")
    assert message.endswith("Invalid data found when processing input"), message
    assert "libav" not in message and "ffprobe version" not in message  # no banner
    assert str(tmp_path) not in message  # no server path


def test_an_empty_file_is_refused_before_ffprobe(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(FootageFileError, match="empty"):
        probe_footage(empty)
