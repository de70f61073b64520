"""Every framing rule, as raw bytes into the engine: the status and the closed connection."""

from __future__ import annotations

import json

import pytest
from fakes import make_channel, responses
from vectors import EXPECTED, VECTORS


@pytest.mark.parametrize(("name", "data"), VECTORS, ids=[n for n, _ in VECTORS])
def test_vector(name: str, data: bytes) -> None:
    channel, transport, _, handler = make_channel()
    channel.dataReceived(data)
    status, closed = EXPECTED[name]
    got = responses(transport.value())
    assert len(got) == 1, got
    assert got[0][0] == status
    assert (not transport.connected) == closed
    if status != 200:
        # A refused request never completes: a head-level error reaches no handler, a body-level
        # one (bad chunk) aborts the exchange so the backend connection is dropped, not reused.
        assert all(e.aborted and not e.body_complete for e in handler.exchanges)


@pytest.mark.parametrize(("name", "data"), VECTORS, ids=[n for n, _ in VECTORS])
def test_vector_byte_by_byte(name: str, data: bytes) -> None:
    """The same verdict when the bytes trickle in one at a time."""
    if len(data) > 20000:
        pytest.skip("size-limit vectors are covered whole; one byte at a time is slow")
    channel, transport, _, _ = make_channel()
    for i in range(len(data)):
        if not transport.connected:
            break
        channel.dataReceived(data[i : i + 1])
    status, closed = EXPECTED[name]
    got = responses(transport.value())
    assert [g[0] for g in got] == [status]
    assert (not transport.connected) == closed


def _echo(name: str) -> dict:
    data = dict(VECTORS)[name]
    channel, transport, _, _ = make_channel()
    channel.dataReceived(data)
    return json.loads(responses(transport.value())[0][2])


def test_absolute_form_authority_wins() -> None:
    echo = _echo("absolute-form-host-mismatch")
    assert echo["target"] == "/"
    assert ["host", "evil.example"] in echo["headers"]
    assert ["host", "a"] not in echo["headers"]


def test_encoded_crlf_stays_encoded() -> None:
    echo = _echo("header-crlf-injection-resp")
    assert echo["target"] == "/%0d%0aSet-Cookie:%20x=1"


def test_encoded_slash_and_double_slash_forwarded_verbatim() -> None:
    assert _echo("path-enc-slash")["target"] == "/app%2F..%2Fadmin"
    assert _echo("path-double-slash")["target"] == "//admin"


def test_pipelined_after_close_never_parsed() -> None:
    channel, _transport, _, handler = make_channel()
    channel.dataReceived(dict(VECTORS)["pipelined-after-close"])
    assert [e.request.target for e in handler.exchanges] == [b"/"]


def test_te_tab_is_chunked() -> None:
    assert _echo("te-tab")["body"] == "Z"
