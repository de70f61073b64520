"""Header-size limits hold on every request of a keep-alive connection, not just the first."""

from __future__ import annotations

from fakes import make_channel, responses


def test_oversized_second_head_sent_in_pieces_is_431() -> None:
    channel, transport, _, _ = make_channel()
    channel.dataReceived(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
    channel.dataReceived(b"GET /2 HTTP/1.1\r\nHost: a\r\nX: ")
    for _ in range(40):  # 40 kB of one header value, 1 kB at a time, never completed
        if not transport.connected:
            break
        channel.dataReceived(b"v" * 1024)
    assert [r[0] for r in responses(transport.value())] == [200, 431]
    assert not transport.connected


def test_body_tail_and_next_head_in_one_chunk_is_not_oversized() -> None:
    channel, transport, _, _ = make_channel()
    body = b"b" * 60000
    channel.dataReceived(b"POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body))
    # The body tail and half of the next head arrive together, then the rest of the head.
    channel.dataReceived(body + b"GET /2 HTTP/1.1\r\nHo")
    channel.dataReceived(b"st: a\r\n\r\n")
    assert [r[0] for r in responses(transport.value())] == [200, 200]
    assert transport.connected
