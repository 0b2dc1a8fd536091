"""The daemon's HTTP ingest under faults: SIGKILL, SIGTERM mid-stream, fuzzed payloads."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.events import Event
from core.jsonsafe import MAX_DEPTH
from tests.helpers import AUTH, Daemon, count, event_record, free_port, http_daemon, wait_for


def _batches(n: int, size: int) -> list[list[dict]]:
    return [
        [event_record(b * size + i, text=f"user works on item {b}-{i}") for i in range(size)]
        for b in range(n)
    ]


def _ids(batch: list[dict]) -> set[str]:
    return {Event.model_validate(record).id for record in batch}


def _stored_ids(home: Path) -> set[str]:
    with sqlite3.connect(home / "data" / "festina.db") as db:
        return {row[0] for row in db.execute("select id from events")}


def _send_concurrently(
    daemon: Daemon, batches: list[list[dict]], *, after: int, then
) -> tuple[set[int], set[int]]:
    """Post batches from four threads; call `then()` once `after` are confirmed stored.
    Returns the batch numbers confirmed stored (200) and those that were not."""
    confirmed: set[int] = set()
    lock = threading.Lock()
    fired = threading.Event()

    def send(number: int) -> None:
        try:
            response = daemon.post(batches[number])
        except httpx.HTTPError:
            return
        if response.status_code == 200 and response.json()["stored"]:
            with lock:
                confirmed.add(number)
                if len(confirmed) >= after and not fired.is_set():
                    fired.set()
                    then()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, range(len(batches))))
    return confirmed, set(range(len(batches))) - confirmed


def test_sigkill_mid_stream_loses_nothing_confirmed_and_resending_duplicates_nothing(tmp_path):
    home, port = tmp_path / "home", free_port()
    batches = _batches(60, 10)
    with http_daemon(home, port) as daemon:
        confirmed, unconfirmed = _send_concurrently(
            daemon, batches, after=8, then=lambda: daemon.process.send_signal(signal.SIGKILL)
        )
        daemon.process.wait(timeout=30)
    assert daemon.process.returncode == -signal.SIGKILL
    assert len(confirmed) >= 8 and unconfirmed, "the kill should land mid-stream"
    stored = _stored_ids(home)
    for number in confirmed:  # every answer of "stored" was true
        assert _ids(batches[number]) <= stored

    # A sender resends what it never got confirmed (some of it may be stored already).
    with http_daemon(home, port) as daemon:
        for number in sorted(unconfirmed):
            response = daemon.post(batches[number])
            assert response.status_code == 200, response.text
    everything = set().union(*(_ids(batch) for batch in batches))
    assert _stored_ids(home) == everything
    assert count(home, "select count(*) from decisions") == len(everything)


def test_sigterm_mid_stream_drains_every_accepted_request(tmp_path):
    home = tmp_path / "home"
    batches = _batches(40, 10)
    with http_daemon(home, free_port()) as daemon:
        confirmed, _ = _send_concurrently(
            daemon, batches, after=5, then=lambda: daemon.process.send_signal(signal.SIGTERM)
        )
        assert daemon.process.wait(timeout=60) == 0
    stored = _stored_ids(home)
    assert len(confirmed) >= 5
    for number in confirmed:
        assert _ids(batches[number]) <= stored
    # Whatever was stored got its decision: the drain finished the work it took on.
    assert count(home, "select count(*) from decisions") == len(stored)


# --- fuzzing -----------------------------------------------------------------------

_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
_json = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_field_names = st.sampled_from(
    ["id", "time", "source", "kind", "app", "title", "url", "text", "attributes", "extra"]
)
_kinds = st.sampled_from(["window", "browser", "afk", "text", "nonsense", ""])
# Near-valid events reach deep into validation; arbitrary JSON and bytes cover the rest.
_event_like = st.dictionaries(
    _field_names, st.one_of(_json_scalars, _kinds, st.just(1_700_000_000)), max_size=9
)
_bodies = st.one_of(
    st.binary(max_size=300).map(lambda raw: ("raw", raw)),
    _json.map(lambda value: ("json", value)),
    st.lists(_event_like, min_size=1, max_size=5).map(lambda value: ("json", value)),
    _event_like.map(lambda value: ("json", value)),
)


@pytest.fixture(scope="module")
def fuzz_daemon(tmp_path_factory) -> Iterator[Daemon]:
    with http_daemon(tmp_path_factory.mktemp("fuzz") / "home", free_port()) as daemon:
        yield daemon


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=_bodies)
def test_fuzzed_payloads_never_crash_the_daemon_and_every_rejection_is_kept(fuzz_daemon, body):
    shape, value = body
    before = count(fuzz_daemon.home, "select count(*) from rejected_inputs")
    content = value if shape == "raw" else json.dumps(value).encode()
    response = httpx.post(
        f"{fuzz_daemon.url}/v1/events",
        content=content,
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code in (200, 400), response.text
    assert fuzz_daemon.process.poll() is None
    if response.status_code == 400:
        expected = 1
    else:
        result = response.json()
        expected = len(result["rejected"])
        assert result["stored"] is True
        assert set(result["accepted"]) <= _stored_ids(fuzz_daemon.home)
    wait_for(
        lambda: (
            count(fuzz_daemon.home, "select count(*) from rejected_inputs") == before + expected
        ),
        timeout=10,
    )


# --- hostile fuzzing: the inputs that once killed the daemon or cost valid events ----
# Bodies are built as JSON text, so they can hold what json.dumps never writes: raw
# surrogate bytes, NaN, 1e400, 5000-digit numbers and nesting past the recursion limit.


@dataclass(frozen=True)
class Fragment:
    text: str  # JSON as Python's reader takes it; lone surrogates still as characters
    depth: int  # arrays and objects nested in it


def _obj(pairs: list[tuple[str, Fragment]]) -> Fragment:
    body = ",".join(f"{key}:{value.text}" for key, value in pairs)
    return Fragment("{" + body + "}", 1 + max((value.depth for _, value in pairs), default=0))


_hostile_chars = st.one_of(
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=()),
    st.just("\x00"),
    st.characters(),
)


@st.composite
def _strings(draw) -> Fragment:
    value = draw(st.text(_hostile_chars, min_size=1, max_size=12) | st.text(max_size=12))
    # A surrogate goes out either as a \uXXXX escape or as raw bytes (ED A0 80...).
    return Fragment(json.dumps(value, ensure_ascii=draw(st.booleans())), 0)


_numbers = st.one_of(
    st.sampled_from(
        ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "-0", "1" + "0" * 400]
    ),
    st.just("9" * 5000),  # beyond the interpreter's digit limit
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
).map(lambda text: Fragment(text, 0))
_extreme_times = st.sampled_from(
    [
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "1969-12-31T23:59:59Z",
        "2026-11-24T09:30:00+01:00",
    ]
).map(lambda text: Fragment(json.dumps(text), 0))


@st.composite
def _deep(draw) -> Fragment:
    levels = draw(st.integers(min_value=1, max_value=1200))
    if draw(st.booleans()):
        return Fragment("[" * levels + "0" + "]" * levels, levels)
    return Fragment('{"a":' * levels + "0" + "}" * levels, levels)


_values = st.one_of(_strings(), _numbers, _deep(), _extreme_times)
# Keys unique as decoded: a repeated key would silently drop the value before it.
_attributes = st.lists(
    st.tuples(_strings(), _values), max_size=3, unique_by=lambda pair: json.loads(pair[0].text)
).map(lambda pairs: _obj([(key.text, value) for key, value in pairs]))


@st.composite
def _hostile_record(draw) -> Fragment:
    # ProactiveBench-shaped, with a scene clock or any time: the API refuses it (festina
    # events only), and must do so record by record.
    if draw(st.booleans()):
        day = draw(st.integers(min_value=0, max_value=10**12))
        time = draw(st.just(Fragment(f'"Day {day}, 1:00 AM"', 0)) | _numbers | _extreme_times)
        observation = _obj([('"time"', time), ('"event"', draw(_strings()))])
        return _obj([('"observation"', observation)])
    pairs = [
        ('"time"', draw(_numbers | _extreme_times | _deep())),
        ('"kind"', Fragment('"browser"', 0)),
        ('"title"', draw(_strings())),
    ]
    if draw(st.booleans()):
        pairs.append(('"attributes"', draw(_attributes)))
    return _obj(pairs)


@dataclass(frozen=True)
class HostileBody:
    data: bytes
    valid: list[dict]
    records: int
    depth: int


@st.composite
def _hostile_bodies(draw) -> HostileBody:
    valid = [
        event_record(n, text=f"valid event {n} among hostile ones")
        for n in draw(st.lists(st.integers(0, 10**9), min_size=1, max_size=3))
    ]
    hostile = draw(st.lists(_hostile_record(), min_size=1, max_size=4))
    fragments = draw(st.permutations([Fragment(json.dumps(v), 1) for v in valid] + hostile))
    text = "[" + ",".join(fragment.text for fragment in fragments) + "]"
    return HostileBody(
        text.encode("utf-8", "surrogatepass"),
        valid,
        len(fragments),
        1 + max(fragment.depth for fragment in fragments),
    )


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=_hostile_bodies(),
    content_type=st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "text/plain", None]
    ),
)
def test_hostile_payloads_never_kill_the_daemon_or_cost_a_valid_event(
    fuzz_daemon, body, content_type
):
    before = count(fuzz_daemon.home, "select count(*) from rejected_inputs")
    headers = dict(AUTH) if content_type is None else {**AUTH, "Content-Type": content_type}
    response = httpx.post(
        f"{fuzz_daemon.url}/v1/events", content=body.data, headers=headers, timeout=30
    )
    assert fuzz_daemon.process.poll() is None, (fuzz_daemon.home / "daemon.out").read_text()
    if content_type is None or content_type == "text/plain":
        assert response.status_code == 415, response.text
        expected = 1
    elif body.depth > MAX_DEPTH:
        assert response.status_code == 400, response.text
        assert "nested deeper" in response.json()["detail"]
        expected = 1
    else:
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["stored"] is True
        assert len(result["accepted"]) + len(result["rejected"]) == body.records
        valid_ids = {Event.model_validate(record).id for record in body.valid}
        assert valid_ids <= set(result["accepted"])  # every valid record taken...
        assert valid_ids <= _stored_ids(fuzz_daemon.home)  # ... and stored
        expected = len(result["rejected"])
    wait_for(
        lambda: (
            count(fuzz_daemon.home, "select count(*) from rejected_inputs") == before + expected
        ),
        timeout=10,
    )


def test_after_fuzzing_good_events_still_flow(fuzz_daemon):
    response = fuzz_daemon.post([event_record(i, text=f"fine event {i}") for i in range(3)])
    assert response.status_code == 200 and len(response.json()["accepted"]) == 3
