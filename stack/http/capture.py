"""An exchange whose response is captured by the tier that made it instead of going out.

The edge's cache forwards a miss or a revalidation to the tier behind it through the same
``RequestHandler`` interface a client's exchange takes, so the balancer cannot tell the
difference; but the answer must come back to the cache (to be stored, merged after a 304, or
replaced by a stale copy on an error) rather than to a connection. A ``CapturedExchange``
shares the client connection's facts (addresses, TLS) for ACLs and logs, has no body of its
own to read, and turns every way a handler can answer (``respond``/``write``/``finish``,
``send_raw``, ``abort``) into calls on a :class:`ResponseCapture`.
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.interfaces import IPushProducer

from stack.http import h1
from stack.http.message import Request, Response
from stack.http.server import BodySink, Exchange, ServerChannel


class ResponseCapture(Protocol):
    """Where a captured exchange's response goes, head first, then data, then the end."""

    def captured_head(self, response: Response) -> None: ...
    def captured_data(self, data: bytes) -> None: ...
    def captured_flush(self) -> None: ...
    def captured_end(self) -> None: ...
    def captured_producer(self, producer: IPushProducer | None) -> None:
        """The handler's producer (the server connection), to pause while a client is slow."""

    def captured_failed(self) -> None:
        """The handler gave up (abort) or the response broke off."""


class CapturedExchange(Exchange):
    """A bodiless request sent on behalf of a client connection (or of nobody: a background
    revalidation keeps the connection facts of the request that started it)."""

    def __init__(
        self,
        channel: ServerChannel,
        request: Request,
        capture: ResponseCapture,
        t_accept: float,
        t_request: float,
    ) -> None:
        super().__init__(channel, request, t_accept, t_request)
        self.capture = capture
        self._body_done = True

    def read_body(self, sink: BodySink) -> None:
        sink.body_end()

    def pause_body(self) -> None:
        pass

    def resume_body(self) -> None:
        pass

    def informational(self, response: Response) -> None:
        pass

    def respond(self, response: Response) -> None:
        self.response = response
        self.capture.captured_head(response)

    def write(self, data: bytes) -> None:
        if self.finished or self.response is None or not data:
            return
        self.body_out += len(data)
        self.bytes_out += len(data)
        self.capture.captured_data(data)

    def flush(self) -> None:
        if not self.finished:
            self.capture.captured_flush()

    def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        self.capture.captured_end()

    def send_raw(self, data: bytes, close: bool = False) -> None:
        """A complete pre-built response (an error page, a redirect): parsed into head and
        body so the capture sees it as any other response."""
        if self.finished:
            return
        parser = h1.ResponseParser(_RawSink(self))
        parser.expect_response(head=self.request.method == b"HEAD")
        try:
            parser.feed(data)
            parser.eof()
        except h1.ProtocolError:
            pass
        if not self.finished:
            self.abort()

    def abort(self) -> None:
        if self.finished:
            return
        self.aborted = True
        self.finished = True
        self.capture.captured_failed()

    def register_producer(self, producer: IPushProducer) -> None:
        self.capture.captured_producer(producer)

    def unregister_producer(self) -> None:
        self.capture.captured_producer(None)


class _RawSink:
    """Feeds a parsed pre-built response into its captured exchange."""

    def __init__(self, exchange: CapturedExchange) -> None:
        self.exchange = exchange

    def response_received(self, response: Response) -> None:
        if response.status >= 200:
            self.exchange.respond(response)

    def response_body(self, data: bytes) -> None:
        self.exchange.write(data)

    def response_complete(self) -> None:
        self.exchange.finish()
