"""Request bodies are read by the config files' checker: types, unknown and missing fields, bounds."""

import pytest

from edge.contract.config_files import SettingError, from_plain
from server.api.bodies import (
    MAX_SKIPPED,
    ClaimBody,
    ClassBody,
    DecisionBody,
    ExampleBody,
    MappingBody,
    NoBody,
    SubmitBody,
    TrackAcceptBody,
)


def refused(cls, data) -> str:
    with pytest.raises(SettingError) as caught:
        from_plain(cls, data, "the body")
    return str(caught.value)


def test_fields_are_read_with_their_types_and_defaults():
    assert from_plain(ClaimBody, {}, "the body") == ClaimBody(None, None, None)
    claim = from_plain(ClaimBody, {"frame_id": 7, "lease_seconds": 30, "skip": [1, 2]}, "the body")
    assert claim == ClaimBody(7, 30.0, (1, 2)) and isinstance(claim.lease_seconds, float)
    assert from_plain(TrackAcceptBody, {"device": "cam", "track_id": 3}, "the body").class_name is None


def test_null_in_an_optional_field_is_as_if_left_out():
    assert from_plain(ClaimBody, {"frame_id": None, "skip": None}, "the body") == ClaimBody()
    assert from_plain(MappingBody, {"model_id": "m", "model_class": "car", "class_name": None},
                      "the body").class_name is None


def test_a_wrong_type_is_named_with_its_value():
    assert refused(ClaimBody, {"frame_id": "one"}) == 'frame_id = "one": expected an integer or null'
    assert refused(ClaimBody, {"lease_seconds": float("nan")}) == "lease_seconds = nan: expected a finite number or null"
    assert refused(ClassBody, {"name": "car", "aliases": "auto"}) == 'aliases = "auto": expected a list or null'
    assert refused(TrackAcceptBody, {"device": 5, "track_id": 1}) == "device = 5: expected a string"


def test_bool_is_not_an_integer_nor_a_number():
    assert refused(ClaimBody, {"frame_id": True}) == "frame_id = true: expected an integer or null"
    assert refused(ClaimBody, {"lease_seconds": False}) == "lease_seconds = false: expected a finite number or null"
    assert refused(ClaimBody, {"skip": [1, True]}) == "skip[1] = true: expected an integer"


def test_an_unknown_field_is_refused_naming_the_known_ones():
    assert refused(ClaimBody, {"surprise": 1}) == \
        "surprise = 1: expected no such key; the body has frame_id, lease_seconds, skip"
    assert refused(NoBody, {"frame_id": 1}) == "frame_id = 1: expected no such key; the body takes none"


def test_a_missing_required_field_is_named():
    assert refused(TrackAcceptBody, {"track_id": 1}) == "device is missing: expected a string"
    assert refused(SubmitBody, {}) == "decision is missing: expected a string"
    assert refused(DecisionBody, {"decision": "correct", "annotations": [{"x1": 1, "y1": 1, "x2": 2, "y2": 2}]}) \
        == "annotations[0].class_name is missing: expected a string"


def test_a_bounded_list_is_refused_over_its_bound():
    assert from_plain(ClaimBody, {"skip": list(range(MAX_SKIPPED))}, "the body").skip == tuple(range(MAX_SKIPPED))
    too_many = refused(ClaimBody, {"skip": list(range(MAX_SKIPPED + 1))})
    assert too_many.startswith("skip = [0, 1, 2") and "..." in too_many and len(too_many) < 300
    assert too_many.endswith(f"expected a list of at most {MAX_SKIPPED} frame ids")


def test_nested_lists_name_the_item_that_is_wrong():
    assert refused(ClaimBody, {"skip": [1, 2, "3"]}) == 'skip[2] = "3": expected an integer'
    box = {"x1": 1, "y1": 2, "x2": 30.5, "y2": 40, "class_name": "person"}
    assert refused(SubmitBody, {"decision": "correct", "annotations": [box, {**box, "track_id": 1.5}]}) \
        == "annotations[1].track_id = 1.5: expected an integer or null"
    assert refused(SubmitBody, {"decision": "correct", "annotations": [box, 5]}) \
        == "annotations[1] = 5: expected an object"
    assert refused(SubmitBody, {"decision": "correct", "annotations": {"x1": 1}}) \
        == "annotations = {...}: expected a list of objects or null"
    assert refused(SubmitBody, {"decision": "correct", "annotations": [{**box, "colour": "red"}]}).startswith(
        'annotations[0].colour = "red": expected no such key; annotations[0] has x1, y1, x2, y2, class_name')


def test_boxes_reach_the_queue_as_submitted():
    box = {"x1": 1, "y1": 2, "x2": 30.5, "y2": 40, "class_name": "person", "detection_id": 9}
    body = from_plain(SubmitBody, {"decision": "correct", "annotations": [box], "comment": "ok"}, "the body")
    assert body.boxes() == [{**box, "x1": 1.0, "y1": 2.0, "y2": 40.0, "track_id": None}]
    assert from_plain(SubmitBody, {"decision": "accept"}, "the body").boxes() is None


def test_ids_fit_the_database_columns():
    assert from_plain(ClaimBody, {"frame_id": 2**63 - 1}, "the body").frame_id == 2**63 - 1
    assert refused(ClaimBody, {"frame_id": 2**63}) == f"frame_id = {2**63}: expected an integer that fits in 64 bits"
    assert refused(TrackAcceptBody, {"device": "cam", "track_id": -(2**63) - 1}).startswith("track_id = ")
    assert refused(ExampleBody, {"class_name": "car", "annotation_id": 2**64}).startswith("annotation_id = ")
