"""Evidence bundles from really recorded footage (vtest pedestrians in two H.264 segments): the
bundle verifies, a bystander is really blurred while the subject stays sharp, tampering with a
real clip is caught, originals are stream copies, and an altered recording
refuses to export."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from detect.detector import NanoDetDetector
from evidence.bundle import BundleSummary, build_bundle, load_material
from evidence.clips import probe_video
from evidence.faces import FaceDetector
from evidence.manifest import verify_bundle
from evidence.redact import Redactor
from evidence.request import ExportError, ExportRequest
from models.registry import default_cache_dir, model_path
from storage.ed25519 import Signer
from tests.evidence.footage_support import (
    BYSTANDER_LABEL,
    SUBJECT_LABEL,
    TRACK_FRAMES,
    RecordedCase,
    encode_segments,
    labelled_boxes,
    record_case,
    vtest_frames,
)

pytestmark = pytest.mark.slow  # real footage through detector, CenterFace and ffmpeg: ~15 s
PAD_S = 0.5
FIRST_CLIP_FRAME = TRACK_FRAMES[0] - int(PAD_S * 10)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> RecordedCase:
    root = tmp_path_factory.mktemp("recorded")
    return record_case(root, encode_segments(root / "segments"))


@pytest.fixture(scope="module")
def redactor(tmp_path_factory: pytest.TempPathFactory) -> Redactor:
    detector = NanoDetDetector(model_path("nanodet", default_cache_dir().resolve()))
    faces = FaceDetector.from_models_dir(tmp_path_factory.mktemp("models"))
    return Redactor(detector, faces)


def request(recorded: RecordedCase, role: str = "investigator", **extra: object) -> ExportRequest:
    return ExportRequest(
        case_id=recorded.case_id,
        track_ids=(recorded.subject_id,),
        purpose="court file 2026/117",
        requested_by="ana",
        role=role,
        requested_at=datetime(2026, 12, 6, 5, 0, tzinfo=UTC),
        pad_s=PAD_S,
        **extra,  # type: ignore[arg-type]
    )


def build(
    recorded: RecordedCase, redactor: Redactor, out: Path, export: ExportRequest, signer: Signer
) -> BundleSummary:
    with recorded.sessions() as session:
        material = load_material(session, export)
    return build_bundle(material, recorded.store, redactor, signer, out, "exp1")


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.generate()


@pytest.fixture(scope="module")
def bundle(
    recorded: RecordedCase,
    redactor: Redactor,
    signer: Signer,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, BundleSummary]:
    out = tmp_path_factory.mktemp("bundle") / "case.zip"
    progress: list[float] = []
    export = request(recorded)
    with recorded.sessions() as session:
        material = load_material(session, export)
    summary = build_bundle(material, recorded.store, redactor, signer, out, "exp1", progress.append)
    assert progress[-1] == 1.0 and progress == sorted(progress)
    return out, summary


def clip_frames(bundle: Path, name: str, tmp_path: Path) -> list[np.ndarray]:
    with zipfile.ZipFile(bundle) as archive:
        (tmp_path / "clip.mp4").write_bytes(archive.read(name))
    capture = cv2.VideoCapture(str(tmp_path / "clip.mp4"))
    frames: list[np.ndarray] = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def sharpness(image: np.ndarray, box: list[float]) -> float:
    x1, y1, x2, y2 = (int(v) for v in box)
    grey = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def test_bundle_holds_what_it_should_and_verifies(
    bundle: tuple[Path, BundleSummary], recorded: RecordedCase, signer: Signer
) -> None:
    path, summary = bundle
    result = verify_bundle(path, signer.public_key)
    assert result.ok, result.problems
    subject = recorded.subject_id
    assert sorted(e.path for e in summary.manifest.files) == sorted(
        [f"clips/track-{subject}.mp4", f"shots/track-{subject}.jpg", "metadata.json",
         "hops.json", "audit.jsonl", "custody.json"]
    )  # fmt: skip
    with zipfile.ZipFile(path) as archive:
        metadata = json.loads(archive.read("metadata.json"))
        custody = json.loads(archive.read("custody.json"))
        hops = json.loads(archive.read("hops.json"))
        audit = [json.loads(line) for line in archive.read("audit.jsonl").splitlines()]
    (track,) = metadata["tracks"]
    assert track["id"] == subject and "embedding" not in track
    assert [s["object_key"] for s in track["source_segments"]] == [
        "cameras/cam1/0.mp4", "cameras/cam1/1.mp4"
    ]  # fmt: skip
    assert custody["requested_by"] == "ana" and custody["purpose"] == "court file 2026/117"
    assert custody["case"]["id"] == recorded.case_id
    assert custody["signing_key_fingerprint"] == signer.public_key.fingerprint
    assert "not included" in custody["originals"]
    assert [(e["action"], e["case_id"]) for e in audit] == [("open_case", recorded.case_id)]
    assert hops == {"case_id": recorded.case_id, "decisions": [], "decisions_not_exported": 0}
    assert summary.redaction[subject]["frames"] == 50  # frames 45-94, across both segments
    assert summary.redaction[subject]["persons"] > 0


def test_bystander_is_blurred_and_subject_stays_sharp(
    bundle: tuple[Path, BundleSummary], tmp_path: Path
) -> None:
    path, summary = bundle
    frames = clip_frames(path, f"clips/track-{next(iter(summary.redaction))}.mp4", tmp_path)
    assert len(frames) == 50
    source = vtest_frames(TRACK_FRAMES[1] + 1)
    boxes = labelled_boxes()
    bystander_ratios, subject_ratios, subject_diffs = [], [], []
    for index in range(64, TRACK_FRAMES[1] + 1, 2):
        clip = frames[index - FIRST_CLIP_FRAME]
        bystander = boxes[BYSTANDER_LABEL][index]
        subject = boxes[SUBJECT_LABEL][index]
        bystander_ratios.append(sharpness(clip, bystander) / sharpness(source[index], bystander))
        subject_ratios.append(sharpness(clip, subject) / sharpness(source[index], subject))
        x1, y1, x2, y2 = (int(v) for v in subject)
        diff = clip[y1:y2, x1:x2].astype(float) - source[index][y1:y2, x1:x2].astype(float)
        subject_diffs.append(float(np.abs(diff).mean()))
    assert max(bystander_ratios) < 0.1, bystander_ratios  # detail gone in every labelled frame
    assert np.median(subject_ratios) > 0.5, subject_ratios  # only two H.264 encodes' loss
    assert max(subject_diffs) < 8.0, subject_diffs


def test_a_changed_byte_in_a_real_clip_is_caught(
    bundle: tuple[Path, BundleSummary], signer: Signer, tmp_path: Path
) -> None:
    path, summary = bundle
    copy = tmp_path / "tampered.zip"
    name = f"clips/track-{next(iter(summary.redaction))}.mp4"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(copy, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == name:
                data = data[:5000] + bytes([data[5000] ^ 0xFF]) + data[5001:]
            target.writestr(info.filename, data)
    result = verify_bundle(copy, signer.public_key)
    assert [p.split(":")[0] for p in result.problems] == [name]


def test_originals_are_stream_copies(
    recorded: RecordedCase, redactor: Redactor, signer: Signer, tmp_path: Path
) -> None:
    out = tmp_path / "admin.zip"
    summary = build(recorded, redactor, out, request(recorded, "admin", include_originals=True),
                    signer)  # fmt: skip
    original = f"originals/track-{recorded.subject_id}.mp4"
    assert original in {e.path for e in summary.manifest.files}
    with zipfile.ZipFile(out) as archive:
        (tmp_path / "o.mp4").write_bytes(archive.read(original))
    info = probe_video(tmp_path / "o.mp4")
    assert (info.width_px, info.height_px) == (768, 576)
    capture = cv2.VideoCapture(str(tmp_path / "o.mp4"))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    assert count >= 50  # starts on the keyframe at or before the span (at most 1 s early)
    assert verify_bundle(out, signer.public_key).ok


def test_an_altered_recording_refuses_to_export(
    recorded: RecordedCase, redactor: Redactor, signer: Signer, tmp_path: Path
) -> None:
    key = "cameras/cam1/1.mp4"
    genuine = recorded.store.get(key)
    recorded.store.put_bytes(key, genuine[:-10] + b"0123456789", "video/mp4")
    try:
        with pytest.raises(ExportError, match="was altered"):
            build(recorded, redactor, tmp_path / "x.zip", request(recorded), signer)
    finally:
        recorded.store.put_bytes(key, genuine, "video/mp4")
    assert not (tmp_path / "x.zip").exists()


def test_bad_requests_are_refused(recorded: RecordedCase) -> None:
    with pytest.raises(ExportError, match="at least one"):
        request(recorded).__class__(**{**request(recorded).__dict__, "track_ids": ()})
    with pytest.raises(ExportError, match="purpose"):
        request(recorded).__class__(**{**request(recorded).__dict__, "purpose": "  "})
    missing = request(recorded).__class__(**{**request(recorded).__dict__, "track_ids": (999,)})
    with recorded.sessions() as session, pytest.raises(ExportError, match="999"):
        load_material(session, missing)
