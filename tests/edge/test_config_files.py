"""The config files' checker on plain data (:func:`from_plain`), as request bodies use it."""

from dataclasses import dataclass, field

import pytest

from edge.contract.config_files import SettingError, check, from_plain


@dataclass(frozen=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True)
class Shape:
    name: str
    rows: tuple[tuple[int, ...], ...] = ()
    points: tuple[Point, ...] | None = None
    tags: tuple[str, ...] = field(default=(), metadata=check(lambda tags: len(tags) <= 2, "at most 2 tags"))
    closed: bool = False
    sides: int | None = None


def refused(data) -> str:
    with pytest.raises(SettingError) as caught:
        from_plain(Shape, data, "the shape")
    return str(caught.value)


def test_plain_data_becomes_the_dataclass():
    shape = from_plain(Shape, {"name": "t", "rows": [[1, 2], []], "points": [{"x": 0, "y": 1.5}], "closed": True},
                       "the shape")
    assert shape == Shape("t", ((1, 2), ()), (Point(0.0, 1.5),), (), True, None)


def test_each_wrong_value_is_named_by_its_path():
    assert refused({"name": 1}) == "name = 1: expected a string"
    assert refused({"name": "t", "rows": [[1], [2, "3"]]}) == 'rows[1][1] = "3": expected an integer'
    assert refused({"name": "t", "rows": [1]}) == "rows[0] = 1: expected a list"
    assert refused({"name": "t", "points": [{"x": 0}]}) == "points[0].y is missing: expected a finite number"
    assert refused({"name": "t", "points": [{"x": 0, "y": float("inf")}]}) == \
        "points[0].y = inf: expected a finite number"


def test_bool_is_neither_an_integer_nor_a_number_and_numbers_are_not_bools():
    assert refused({"name": "t", "sides": True}) == "sides = true: expected an integer or null"
    assert refused({"name": "t", "rows": [[False]]}) == "rows[0][0] = false: expected an integer"
    assert refused({"name": "t", "points": [{"x": True, "y": 0}]}) == "points[0].x = true: expected a finite number"
    assert refused({"name": "t", "closed": 1}) == "closed = 1: expected true or false"


def test_unknown_missing_and_bounded():
    assert refused({"name": "t", "colour": "red"}) == \
        'colour = "red": expected no such key; the shape has name, rows, points, tags, closed, sides'
    assert refused({}) == "name is missing: expected a string"
    assert refused([]) == "the shape = []: expected an object"
    assert refused({"name": "t", "tags": ["a", "b", "c"]}) == 'tags = ["a", "b", "c"]: expected at most 2 tags'


def test_null_only_where_the_type_allows_it():
    assert from_plain(Shape, {"name": "t", "points": None, "sides": None}, "the shape") == Shape("t")
    assert refused({"name": None}) == "name = null: expected a string"
