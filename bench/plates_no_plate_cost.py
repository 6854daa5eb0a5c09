"""Benchmark (issue #14): what a plate read costs on a vehicle without a readable plate — the
common case on a live camera — with the reader's deblurring second look off, after every
unsure first look, or only after a first look that found a plate-like line
(`PlateSearch.deblur_needs_line`).

Crops: the plates bench's real host vehicles as photographed, no plate composited (bus.jpg's
bus and dog.jpg's pickup have none; the parked van of vtest.avi shows none legible; the sedan
of licenseplate_motion.jpg carries a blurred US plate), each scaled as a 1080p main-stream crop
(`--scale`). Reads interleaved per round, process CPU per read (medians of `--rounds`), one
thread as the runtime.

Run: `flock /tmp/skynet-bench.lock .venv/bin/python -m bench.plates_no_plate_cost`; merges
`plate_no_plate_*` keys into bench/results/plates.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from bench.live import MODELS_DIR, machine_description
from bench.plates_live_cost import EPOCH, merge_results
from detect.plate_locator import PlateSearch
from detect.plate_reader import PlateReader
from sample_streams.plate_scenes import HOSTS, host_vehicle

RESULTS_PATH = Path(__file__).resolve().parents[1] / "bench" / "results" / "plates.json"
SEARCHES: dict[str, PlateSearch] = {
    "deblur_off": PlateSearch(deblur=False),
    "deblur_always": PlateSearch(deblur=True, deblur_needs_line=False),
    "deblur_line": PlateSearch(deblur=True, deblur_needs_line=True),
}
# main-stream scale of each host crop (a vehicle of a 1080p road camera's near-to-middle range)
SCALES = {"sedan_rear": 1.0, "van_rear": 3.0, "pickup_front": 2.0, "bus_side": 1.0}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS_PATH)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    readers = {
        name: PlateReader.from_model_cache(MODELS_DIR, search=search)
        for name, search in SEARCHES.items()
    }
    crops = {h.name: host_vehicle(h, SCALES[h.name]) for h in HOSTS}
    blank = np.zeros((120, 200, 3), np.uint8)
    for reader in readers.values():
        reader.sight(blank, EPOCH)
    cpu_ms: dict[str, dict[str, list[float]]] = {n: {h: [] for h in crops} for n in readers}
    texts: dict[str, dict[str, str | None]] = {n: {} for n in readers}
    for _round in range(args.rounds):
        for host, image in crops.items():
            for name, reader in readers.items():
                cpu0 = time.process_time()
                sighting = reader.sight(image, EPOCH)
                cpu_ms[name][host].append((time.process_time() - cpu0) * 1000)
                texts[name][host] = None if sighting is None else sighting.read.text
    out: dict[str, object] = {
        f"plate_no_plate_cpu_ms_{name}": {
            host: round(statistics.median(v), 1) for host, v in per_host.items()
        }
        for name, per_host in cpu_ms.items()
    }
    out["plate_no_plate_reads"] = texts
    out["plate_no_plate_crops"] = {h: list(crops[h].shape[1::-1]) for h in crops}
    out["plate_no_plate_machine"] = machine_description() + " (shared)"
    out["plate_no_plate_date"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    merge_results(args.out, out)
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
