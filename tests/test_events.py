from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from core.events import Event, EventKind, describe_validation_error


def make(**overrides):
    record = {
        "time": 1717377997.0,
        "source": "test",
        "kind": "browser",
        "text": "The user searches",
    }
    record.update(overrides)
    return Event.model_validate(record)


def reason_for(**overrides) -> str:
    with pytest.raises(ValidationError) as caught:
        make(**overrides)
    return describe_validation_error(caught.value)


def test_time_accepts_unix_seconds_numeric_strings_and_aware_iso():
    expected = datetime(2024, 6, 3, 1, 26, 37, tzinfo=UTC)
    assert make(time=1717377997).time == expected
    assert make(time="1717377997.0").time == expected
    assert make(time="2024-06-03T03:26:37+02:00").time == expected


def test_id_is_derived_from_content_and_stable():
    first, again = make(), make()
    assert first.id == again.id
    assert len(first.id) == 32
    assert make(text="The user scrolls").id != first.id
    assert make(id="aw:window:42").id == "aw:window:42"


def test_kind_is_an_enum():
    assert make(kind="terminal").kind is EventKind.TERMINAL
    assert "kind" in reason_for(kind="spaceship")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"time": "2024-06-03T03:26:37"}, "time: Input should have timezone info"),
        ({"time": -5}, "non-negative"),
        ({"time": True}, "not a boolean"),
        ({"time": 1e20}, "time: Value error, time 1e+20 is out of range"),
        ({"time": 10**30}, "out of range"),
        ({"color": "red"}, "color: Extra inputs are not permitted"),
        ({"source": ""}, "source: String should have at least 1 character"),
        ({"text": ""}, "at least one of text, title or url"),
        ({"text": "x" * 5000}, "text: String should have at most 4000 characters"),
        ({"id": "has spaces"}, "id: String should match pattern"),
        ({"text": "nul \x00 byte"}, "text: Value error, text must not contain NUL"),
        ({"title": "a\ud800b"}, "title: Value error, text must not contain lone surrogates"),
        ({"time": 10**400}, "time: Value error, time > 1e20 is out of range"),
        ({"time": "1e400"}, "finite"),
        ({"time": "9999-12-31T23:59:59-01:00"}, "time must be from 1970-01-01 up to 9999-01-01"),
        ({"time": "0001-01-01T00:00:00+01:00"}, "time must be from 1970-01-01 up to 9999-01-01"),
        ({"time": "1969-12-31T23:59:59Z"}, "time must be from 1970-01-01"),
        ({"attributes": {"a": {"b": math.nan}}}, "attributes: Value error, nan is not a JSON"),
        ({"attributes": {"a": [1, math.inf]}}, "inf is not a JSON number at a[1]"),
        ({"attributes": {"\ud800": 1}}, "key must not contain lone surrogates"),
        ({"attributes": {"a": "\x00"}}, "text at a must not contain NUL"),
        ({"attributes": {"a": [[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]}}, "nested deeper than 16"),
        ({"attributes": {"a": "x" * 40_000}}, "at most 32768 as JSON"),
    ],
)
def test_invalid_events_are_rejected_with_a_reason_naming_the_field(overrides, expected):
    assert expected in reason_for(**overrides)


def test_strict_attributes_within_the_bounds_are_kept():
    attributes = {"tab": 3, "nested": {"list": [1.5, None, True, "ü"]}}
    assert make(attributes=attributes).attributes == attributes


def test_summary_joins_present_fields():
    event = make(app="Chrome", title="Docs", text="reads the docs")
    assert event.summary() == "Chrome | Docs | reads the docs"
