"""Reading events in the forms the CloudEvents spec allows (`shared.wire`), and the envelope lcs
writes: no `"subject": null`."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.events import Envelope, ShipmentDelayed, make_envelope
from shared.wire import _normalised, derived_id, read_envelope

AT = datetime(2026, 11, 30, 10, tzinfo=UTC)


def ours() -> dict:
    event = ShipmentDelayed(waybill_no="SH1", eta=AT, promised_at=AT, delay_minutes=5, reason="traffic_jam")
    return orjson.loads(make_envelope(event, "/lcs/tracking", time=AT).to_json())


def test_our_envelope_reads_back_on_the_fast_path() -> None:
    body = ours()
    env = read_envelope(orjson.dumps(body), content_type="application/cloudevents+json")
    assert str(env.id) == body["id"] and env.time == AT and env.subject == "SH1"


def test_subject_is_omitted_not_null() -> None:
    body = {**ours(), "subject": None}
    env = Envelope.model_validate(body)  # a null subject from an older publisher is still read
    assert "subject" not in env.model_dump(mode="json") and b'"subject"' not in env.to_json()


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON;charset=UTF-8", "text/json",
                                          "application/vnd.lcs.event+json; charset=utf-8"])
def test_any_json_datacontenttype_is_read(content_type: str) -> None:
    env = read_envelope(orjson.dumps({**ours(), "datacontenttype": content_type}))
    assert env.datacontenttype == content_type


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/json-seq"])
def test_a_data_that_is_not_json_is_refused(content_type: str) -> None:
    with pytest.raises(ValidationError):
        read_envelope(orjson.dumps({**ours(), "datacontenttype": content_type}))


def test_without_time_the_event_is_dated_when_read() -> None:
    body = {k: v for k, v in ours().items() if k != "time"}
    before = datetime.now(UTC)
    env = read_envelope(orjson.dumps(body))
    assert before <= env.time <= datetime.now(UTC)


def test_a_non_uuid_id_gets_a_stable_uuid_of_source_and_id() -> None:
    body = {**ours(), "id": "A234-1234-1234"}
    first, again = read_envelope(orjson.dumps(body)), read_envelope(orjson.dumps(body))
    assert first.id == again.id == derived_id("/lcs/tracking", "A234-1234-1234")
    other_source = read_envelope(orjson.dumps({**body, "source": "/elsewhere"}))
    assert other_source.id != first.id


def test_data_base64_holding_json_is_read() -> None:
    body = ours()
    data = body.pop("data")
    body["data_base64"] = base64.b64encode(orjson.dumps(data)).decode()
    assert read_envelope(orjson.dumps(body)).data == data
    body["data_base64"] = "not base64!"
    with pytest.raises(ValueError):
        read_envelope(orjson.dumps(body))


@pytest.mark.parametrize("prefix", ["cloudEvents:", "cloudEvents_", "ce-", "CE-"])
@pytest.mark.parametrize("time", ["2026-11-30T10:00:00Z", 1796032800000, datetime(2026, 11, 30, 10), None])
def test_binary_mode_attributes_from_headers(prefix: str, time: object) -> None:
    body = ours()
    headers = {f"{prefix}{k}": v for k, v in body.items() if k not in ("data", "datacontenttype", "time")}
    if time is not None:
        headers[f"{prefix}time"] = time
    headers["x-lcs-attempt"] = 1  # other headers are not attributes
    env = read_envelope(orjson.dumps(body["data"]), content_type="application/json; charset=utf-8", headers=headers)
    assert str(env.id) == body["id"] and env.type == body["type"] and env.subject == "SH1"
    assert env.datacontenttype == "application/json; charset=utf-8" and env.data == body["data"]
    assert "attempt" not in (env.model_extra or {})
    if time is not None:
        assert env.time == AT


def test_structured_content_type_wins_over_stray_headers() -> None:
    body = ours()
    env = read_envelope(orjson.dumps(body), content_type="application/cloudevents+json",
                        headers={"ce-specversion": "1.0", "ce-type": "something.else.v1"})
    assert env.type == body["type"]


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", orjson.dumps({"id": "x", "source": "/s"})])
def test_what_is_no_cloudevent_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError):
        read_envelope(body)


def test_binary_without_specversion_is_read_as_structured() -> None:
    body = ours()
    env = read_envelope(orjson.dumps(body), content_type=None, headers={"x-lcs-attempt": 2})
    assert env.id == uuid.UUID(body["id"])


def _json_mode(body: bytes) -> Envelope:
    """The structured form read the plain way: pydantic's JSON mode, then the spec's other
    spellings (what `read_envelope` did before it read the body with orjson)."""
    try:
        return Envelope.model_validate_json(body)
    except ValidationError:
        document = orjson.loads(body)
        normalised = _normalised(document) if isinstance(document, dict) else None
        if normalised is None:
            raise
    return Envelope.model_validate(normalised)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8)
attribute_values = {
    "id": st.sampled_from([str(uuid.UUID(int=7)), "evt-1", "", "not a uuid"]) | st.integers(0, 9),
    "source": st.sampled_from(["/lcs/tracking", "", "x" * 201]) | st.integers(0, 9),
    "type": st.sampled_from(["tracking.shipment.delayed.v1", ""]) | st.none(),
    "time": st.sampled_from(["2026-11-30T10:00:00Z", "2026-11-30T10:00:00", "2026-11-30T18:00:00+08:00", "soon"])
    | st.integers(0, 2**40) | st.floats(0, 2e9, allow_nan=False),
    "subject": st.sampled_from(["SH1", ""]) | st.none(),
    "specversion": st.sampled_from(["1.0", "0.3", 1.0]),
    "datacontenttype": st.sampled_from(["application/json", "text/plain", "application/ld+json; x=1", ""]),
    "data": json_values,
    "data_base64": st.sampled_from([base64.b64encode(b'{"a": 1}').decode(), "%%%"]),
    "ext": json_values,
}


@given(st.dictionaries(st.sampled_from(sorted(attribute_values)), st.just(None), max_size=6), st.data())
def test_orjson_then_python_mode_reads_every_envelope_as_json_mode_does(changes: dict, data: st.DataObject) -> None:
    document = ours()
    for name in changes:
        if data.draw(st.booleans(), label=f"drop {name}"):
            document.pop(name, None)
        else:
            document[name] = data.draw(attribute_values[name], label=name)
    body = orjson.dumps(document)
    try:
        expected = _json_mode(body)
    except (ValidationError, ValueError) as exc:
        with pytest.raises(type(exc)):
            read_envelope(body)
        return
    got = read_envelope(body)
    assert got.model_fields_set == expected.model_fields_set
    dumped = got.model_dump()
    if "time" not in document:  # dated when read: the two readings a moment apart
        dumped["time"] = expected.time
    assert dumped == expected.model_dump()
