"""bench/reindex_live.py: label geometry agrees with bench.models' sub-stream mapping, and the
recall comparison counts persons, not frames."""

from __future__ import annotations

import numpy as np

from bench.models import load_labelled_frames, sub_stream_frames
from bench.reindex_live import LabelledFrames, compare_recall


def test_boxes_in_a_16_9_frame_match_the_sub_stream_mapping() -> None:
    labels = LabelledFrames.load()
    frames, truths = load_labelled_frames()
    _, sub_truths = sub_stream_frames(frames, truths)
    for ours, theirs in zip(labels.boxes_in((640, 360)), sub_truths, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1.0)  # theirs rounds the bar width
    main = labels.boxes_in((1920, 1080))[0]
    assert main[:, [0, 2]].min() >= 240 and main[:, [0, 2]].max() <= 1680  # inside the picture
    assert labels.times_s()[:2] == [1.0, 4.0]  # vtest frames 10 and 40 at 10 fps


def test_recall_delta_is_over_persons_with_a_paired_interval() -> None:
    labels = LabelledFrames((0, 2, 4), tuple(np.zeros((n, 4)) for n in (4, 2, 2)))
    same = compare_recall(labels, [4, 2, 1], [4, 2, 1])
    assert same.live_recall == same.archive_recall == 7 / 8
    assert same.delta == 0 and same.delta_ci95 == (0.0, 0.0)
    worse = compare_recall(labels, [4, 2, 2], [3, 2, 2])
    assert worse.delta == 1 / 8 and worse.delta_ci95[0] >= 0 and worse.delta_ci95[1] <= 0.25
