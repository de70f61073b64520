"""A small threaded HTTP/1.1 origin for integration tests: it echoes what it received.

It runs in the test process (stack runs as a separate twistd process), records every request
and connection, and answers on behaviour asked for in the query string.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from urllib.parse import parse_qs, urlsplit


class Origin:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.requests: list[dict] = []
        self.connections = 0
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stop = True
        self.sock.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ")
                headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:]]
                hmap = {k.lower(): v for k, v in headers}
                body = b""
                if "content-length" in hmap:
                    n = int(hmap["content-length"])
                    while len(buf) < n:
                        buf += conn.recv(65536)
                    body, buf = buf[:n], buf[n:]
                elif hmap.get("transfer-encoding") == "chunked":
                    while True:
                        while b"\r\n" not in buf:
                            buf += conn.recv(65536)
                        size_line, _, buf = buf.partition(b"\r\n")
                        size = int(size_line, 16)
                        while len(buf) < size + 2:
                            buf += conn.recv(65536)
                        body += buf[:size]
                        buf = buf[size + 2 :]
                        if size == 0:
                            break
                record = {
                    "server": self.name,
                    "method": method,
                    "target": target,
                    "version": version,
                    "headers": headers,
                    "body_len": len(body),
                }
                self.requests.append(record)
                if not self._respond(conn, method, target, record, hmap):
                    return
        except OSError:
            return
        finally:
            conn.close()

    def _respond(
        self, conn: socket.socket, method: str, target: str, record: dict, hmap: dict
    ) -> bool:
        q = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
        if "sleep" in q:
            time.sleep(float(q["sleep"]))
        if "upgrade" in q and hmap.get("upgrade", "").lower() == "websocket":
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\n"
                b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
            )
            while True:  # echo raw bytes upper-cased until close
                data = conn.recv(65536)
                if not data:
                    return False
                conn.sendall(data.upper())
        status = int(q.get("status", "200"))
        extra = "".join(f"{k}: {v}\r\n" for k, v in json.loads(q.get("hdrs", "{}")).items())
        extra += f"X-Served-By: {self.name}\r\n"
        payload = b"x" * int(q["size"]) if "size" in q else json.dumps(record).encode()
        payload_out = b"" if method == "HEAD" else payload
        if "chunked" in q:
            head = f"HTTP/1.1 {status} OK\r\n{extra}Transfer-Encoding: chunked\r\n\r\n".encode()
            step = 1000
            chunks = b"".join(
                b"%x\r\n%s\r\n" % (len(payload_out[i : i + step]), payload_out[i : i + step])
                for i in range(0, len(payload_out), step)
            )
            conn.sendall(head + chunks + b"0\r\n\r\n")
            return True
        if "closedelim" in q:
            conn.sendall(
                f"HTTP/1.1 {status} OK\r\n{extra}Connection: close\r\n\r\n".encode() + payload_out
            )
            return False
        conn.sendall(
            f"HTTP/1.1 {status} OK\r\n{extra}Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload_out
        )
        return True


class KillableOrigin(Origin):
    """A recording origin that can die like a crashed server: ``kill()`` stops listening and
    closes every connection it has, idle or carrying a request it has not answered yet.

    A response already being written finishes first (the kill waits for it), so a request is
    either answered in full or never answered at all. ``hold`` makes requests for that path
    wait (after they were received and recorded) until the origin is killed; ``received``
    is set when such a request has arrived.
    """

    def __init__(self, name: str, hold: str | None = None) -> None:
        self.lock = threading.Lock()
        self.open: set[socket.socket] = set()
        self.killed = False
        self.hold = hold
        self.received = threading.Event()
        self._dead = threading.Event()
        super().__init__(name)

    def _serve(self, conn: socket.socket) -> None:
        with self.lock:
            if self.killed:
                conn.close()
                return
            self.open.add(conn)
        try:
            super()._serve(conn)
        finally:
            with self.lock:
                self.open.discard(conn)

    def _respond(self, conn, method, target, record, hmap) -> bool:
        if self.hold is not None and target.split("?")[0] == self.hold:
            self.received.set()
            self._dead.wait(10)
            return False
        with self.lock:
            if self.killed:
                return False
            return super()._respond(conn, method, target, record, hmap)

    def kill(self) -> None:
        with self.lock:
            self.killed = True
            self._stop = True
            with contextlib.suppress(OSError):  # wakes accept(); the backlog is reset
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
            for conn in list(self.open):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self.open.clear()
        self._dead.set()

    def close(self) -> None:
        self.kill()
