"""In-memory helpers for engine tests: a channel on a StringTransport driven by a Clock."""

from __future__ import annotations

import json

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransportWithDisconnection

from stack.config.model import Limits, Timeouts
from stack.http.deadlines import Deadlines
from stack.http.errors import builtin_error
from stack.http.message import Response
from stack.http.server import Exchange, ServerChannel


class EchoHandler:
    """Answers each request with a JSON echo of what the engine handed over."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.exchanges: list[Exchange] = []
        self.ended: list[Exchange] = []

    def handle(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)
        if self.answer:
            exchange.read_body(_Collector(exchange))

    def error_response(self, status: int) -> bytes:
        return builtin_error(status)

    def exchange_ended(self, exchange: Exchange) -> None:
        self.ended.append(exchange)


class _Collector:
    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.body = b""

    def body_data(self, data: bytes) -> None:
        self.body += data

    def body_end(self) -> None:
        request = self.exchange.request
        echo = json.dumps(
            {
                "method": request.method.decode(),
                "target": request.target.decode("latin-1"),
                "headers": [[n.decode(), v.decode("latin-1")] for n, v in request.headers],
                "body": self.body.decode("latin-1"),
            }
        ).encode()
        self.exchange.respond(Response(200, b"OK", [], content_length=len(echo)))
        self.exchange.write(echo)
        self.exchange.finish()


def make_channel(
    handler: object | None = None,
    timeouts: Timeouts | None = None,
    limits: Limits | None = None,
    clock: Clock | None = None,
) -> tuple[ServerChannel, StringTransportWithDisconnection, Clock, EchoHandler]:
    clock = clock or Clock()
    handler = handler or EchoHandler()
    channel = ServerChannel(
        handler,  # type: ignore[arg-type]
        Deadlines(clock),
        timeouts or Timeouts(http_request=5.0, http_keep_alive=2.0, client=30.0),
        limits or Limits(),
    )
    transport = StringTransportWithDisconnection(
        peerAddress=IPv4Address("TCP", "127.0.0.1", 40000),
        hostAddress=IPv4Address("TCP", "127.0.0.1", 8081),
    )
    transport.protocol = channel
    channel.makeConnection(transport)
    return channel, transport, clock, handler  # type: ignore[return-value]


def responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Split raw response bytes into (status, headers, body) triples (Content-Length only)."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.decode().lower()] = value.strip().decode("latin-1")
        if "transfer-encoding" in headers:
            body = b""
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line, 16)
                if size == 0:
                    rest = rest[2:]
                    break
                body += rest[:size]
                rest = rest[size + 2 :]
        else:
            length = int(headers.get("content-length", "0"))
            body, rest = rest[:length], rest[length:]
        out.append((status, headers, body))
        data = rest
    return out
