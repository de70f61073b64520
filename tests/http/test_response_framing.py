"""How the response parser finds the end of a body, whatever a proxy does to the head."""

from __future__ import annotations

import pytest

from stack.http import h1
from stack.http.message import Response


class Sink:
    def __init__(self) -> None:
        self.response: Response | None = None
        self.body = b""
        self.complete = False

    def response_received(self, response: Response) -> None:
        self.response = response
        response.chunked = True  # what a proxy does to relay a close-delimited body chunked

    def response_body(self, data: bytes) -> None:
        self.body += data

    def response_complete(self) -> None:
        self.complete = True


@pytest.mark.parametrize(
    "framing",
    [b"", b"Transfer-Encoding: identity\r\n", b"Transfer-Encoding: weird-value\r\n"],
    ids=["no-length", "identity", "unknown-coding"],
)
def test_close_delimited_body_ends_at_close_even_when_relayed_chunked(framing: bytes) -> None:
    sink = Sink()
    parser = h1.ResponseParser(sink)
    parser.expect_response()
    parser.feed(b"HTTP/1.1 200 OK\r\n" + framing + b"Connection: close\r\n\r\nhello body")
    assert sink.response is not None and not sink.complete
    assert parser.eof()
    assert sink.complete and sink.body == b"hello body"


def test_only_a_final_chunked_coding_means_chunked() -> None:
    sink = Sink()
    parser = h1.ResponseParser(sink)
    parser.expect_response()
    parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
    assert sink.response is not None
    assert sink.response.content_length is None
    assert not sink.response.length_header
    assert not parser.eof()  # a chunked body cut short by the close is not complete
