"""The live-ingest benchmark's helpers: capacity search, CPU accounting, raw cost, one trial."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from bench.live import (
    CACHE_DIR,
    DETECT_FPS,
    MODELS_DIR,
    RawCost,
    TrialResult,
    machine_busy_s,
    measure_raw_cost,
    rss_mb,
    run_trial,
    search_capacity,
    summarise,
    thread_cpu_s,
)
from sample_streams.footage import build_cameras
from skynet.settings import Settings


def _trial_result(count: int, held: bool) -> TrialResult:
    return TrialResult(
        mix="busy", cameras=count, held=held, decoded_fraction=1.0, analysed_fraction=1.0,
        analysed_fps_per_camera=5.0, gate_pass_fraction=1.0, drop_fraction=0.0,
        sample_stride_mean=1.0, lag_p95_s=0.1,
        lag_first_third_s=0.1, lag_last_third_s=0.1, tracks_per_camera_minute=1.0,
        cpu_ms_per_camera_second=180.0, plain_raw_ms_per_camera_second=300.0,
        raw_work_ms_per_camera_second=1.0, raw_full_rate_ms_per_camera_second=220.0,
        overhead_ratio=0.6, same_work_overhead_ratio=1.0, analysis_overhead_ratio=0.9,
        recording_ms_per_camera_second=0.1,
        server_cpu_ms_per_camera_second=0.0, foreign_cpu_cores=0.0, mem_mb_per_camera=1.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("capacity", "start", "limit"),
    [(11, 4, 48), (3, 4, 48), (0, 2, 8), (48, 4, 48), (1, 1, 16), (7, 8, 8)],
)
def test_search_finds_the_largest_held_count(capacity: int, start: int, limit: int) -> None:
    tried: list[int] = []

    def trial(count: int) -> TrialResult:
        tried.append(count)
        return _trial_result(count, count <= capacity)

    found, results = search_capacity(trial, start, limit)
    assert found == capacity
    assert [r.cameras for r in results] == tried
    assert len(set(tried)) == len(tried)  # no count is run twice
    assert len(tried) <= 2 * limit.bit_length() + 1


def test_search_rejects_a_start_outside_the_limit() -> None:
    with pytest.raises(ValueError, match="start 9"):
        search_capacity(lambda n: _trial_result(n, True), 9, 8)


def test_thread_cpu_is_attributed_to_the_busy_thread() -> None:
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    before_busy, before_threads = machine_busy_s(), thread_cpu_s()
    started = time.monotonic()
    thread = threading.Thread(target=spin, name="analyse-spin")
    thread.start()
    # wait for CPU, not for wall time: on a loaded machine 0.3 s of wall gave the spinner less
    # than 0.1 s of CPU; a broken attribution never reaches it and fails below
    deadline = started + 10.0
    while True:
        time.sleep(0.05)
        during = thread_cpu_s()  # read while the thread is alive, or it is not seen
        spent_s = during.get("decode+gate", 0.0) - before_threads.get("decode+gate", 0.0)
        if spent_s >= 0.1 or time.monotonic() > deadline:
            break
    elapsed_s = time.monotonic() - started
    stop.set()
    thread.join()
    assert 0.1 <= spent_s <= elapsed_s + 0.02  # one clock tick of slack
    assert machine_busy_s() - before_busy >= spent_s - 0.05
    assert 10 < rss_mb() < 100_000


def test_summary_has_the_flat_keys_at_capacity() -> None:
    raw = RawCost(
        decode_cpu_ms_per_camera_second=20.0, decode_frame_threads_cpu_ms_per_camera_second=24.0,
        detect_cpu_ms_per_frame=40.0, detect_wall_ms_per_frame=25.0,
        detect_batch4_cpu_ms_per_frame=38.0, detect_plain_cpu_ms_per_frame=56.0,
        detect_fps=DETECT_FPS,
    )  # fmt: skip
    busy = [_trial_result(4, True), _trial_result(8, False), _trial_result(6, True)]
    summary = summarise(raw, {"busy": (6, busy)})
    assert summary["raw_ms_per_camera_second"] == 220.0  # 20 + 5 x 40
    assert summary["plain_raw_ms_per_camera_second"] == 300.0  # 20 + 5 x 56
    assert summary["max_cameras_busy"] == 6
    assert summary["figures_busy_at_cameras"] == 6
    assert summary["overhead_ratio"] == 0.6
    assert summary["same_work_overhead_ratio"] == 1.0
    assert summary["analysis_overhead_ratio_busy"] == 0.9
    assert summary["recording_ms_per_camera_second_busy"] == 0.1
    assert summary["valid_for_capacity"] is True
    assert summary["compute_limit_cameras_busy"] == pytest.approx(
        round((os.cpu_count() or 1) * 1000 / 220.0, 1)
    )
    assert summary["plain_compute_limit_cameras_busy"] == pytest.approx(
        round((os.cpu_count() or 1) * 1000 / 300.0, 1)
    )
    assert summary["projected_max_cameras_busy"] == pytest.approx(
        round((os.cpu_count() or 1) * 1000 / 180.0, 1)
    )
    assert len(summary["trials_busy"]) == 3  # type: ignore[arg-type]


@pytest.mark.slow
def test_raw_cost_is_decode_plus_five_detections() -> None:
    sub_path = build_cameras(1, "busy", CACHE_DIR)[0].sub_path
    raw = measure_raw_cost(sub_path, Settings(models_dir=MODELS_DIR), seconds=4.0, repeats=2)
    assert 0 < raw.decode_cpu_ms_per_camera_second < 500
    assert 1 < raw.detect_cpu_ms_per_frame < 2000
    expected_ms = raw.decode_cpu_ms_per_camera_second + DETECT_FPS * raw.detect_cpu_ms_per_frame
    assert raw.ms_per_camera_second == pytest.approx(expected_ms)
    # the square 416x416 input has 1.5x the pixels of the pipeline's 448x256
    assert raw.detect_plain_cpu_ms_per_frame > raw.detect_cpu_ms_per_frame
    assert raw.plain_ms_per_camera_second > raw.ms_per_camera_second
    with pytest.raises(FileNotFoundError, match=r"missing\.mp4"):
        measure_raw_cost(Path("/nonexistent/missing.mp4"), Settings(models_dir=MODELS_DIR))


@pytest.mark.slow
@pytest.mark.integration
def test_one_camera_trial_measures_real_ingest() -> None:
    sub_path = build_cameras(1, "busy", CACHE_DIR)[0].sub_path
    raw = measure_raw_cost(sub_path, Settings(models_dir=MODELS_DIR), seconds=2.0, repeats=1)

    def settings_of(data_dir: Path) -> Settings:
        return Settings(data_dir=data_dir, models_dir=MODELS_DIR, detect_fps=DETECT_FPS)

    result = run_trial("busy", 1, raw, settings_of, warmup_s=2.0, measure_s=8.0)
    assert result.cameras == 1
    assert result.decoded_fraction > 0.8  # the sub stream is decoded at about the sampling rate
    assert result.analysed_fps_per_camera > 0.5
    assert result.gate_pass_fraction > 0.5  # busy footage: people always moving
    assert result.cpu_ms_per_camera_second > 0
    assert result.server_cpu_ms_per_camera_second > 0
    assert "decode+gate" in result.cpu_share_by_thread
    assert "detect" in result.cpu_share_by_thread
    assert result.cpu_ms_per_camera_second_by_thread["detect"] > 0
    assert 0 < result.analysis_overhead_ratio < result.same_work_overhead_ratio
    assert result.plain_raw_ms_per_camera_second == pytest.approx(
        raw.plain_ms_per_camera_second, abs=0.1
    )
    assert result.overhead_ratio == pytest.approx(
        result.cpu_ms_per_camera_second / result.plain_raw_ms_per_camera_second, rel=0.01
    )
    assert result.recording_ms_per_camera_second > 0  # the main stream is received and remuxed
    assert "448x256" in result.settings
    assert result.sample_stride_mean == 1.0  # one camera: nothing to shed
