"""The request headers the edge adds (edge.md §3.3) and mod_remoteip's client address."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stack.edge.forwarded import ForwardedHeaders
from stack.http.message import Headers

EDGE = ForwardedHeaders(
    "edge.test", ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"], "1.1 edge.test:8443"
)


def test_untrusted_peer_replaces_every_forwarded_header() -> None:
    headers: Headers = [
        (b"host", b"edge.test:8443"),
        (b"x-forwarded-for", b"203.0.113.9"),
        (b"user-agent", b"curl"),
        (b"x-forwarded-host", b"evil.example"),
        (b"x-forwarded-server", b"evil"),
        (b"x-forwarded-proto", b"http"),
        (b"x-forwarded-port", b"80"),
        (b"x-forwarded-for", b"198.51.100.1"),
    ]
    EDGE.apply(headers, "198.51.100.7", b"edge.test:8443", b"https", 8443)
    assert headers == [
        (b"host", b"edge.test:8443"),
        (b"user-agent", b"curl"),
        (b"x-forwarded-for", b"198.51.100.7"),
        (b"x-forwarded-host", b"edge.test:8443"),
        (b"x-forwarded-server", b"edge.test"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-port", b"8443"),
        (b"via", b"1.1 edge.test:8443"),
    ]


def test_trusted_peer_extends_the_lists_and_keeps_the_original_request() -> None:
    headers: Headers = [
        (b"host", b"edge.test"),
        (b"x-forwarded-for", b"203.0.113.9"),
        (b"x-forwarded-host", b"www.example"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-port", b"443"),
        (b"x-forwarded-server", b"front"),
        (b"x-forwarded-for", b"10.9.9.9"),
        (b"via", b"1.1 front"),
    ]
    EDGE.apply(headers, "10.0.0.5", b"edge.test", b"http", 80)
    assert headers == [
        (b"host", b"edge.test"),
        (b"x-forwarded-for", b"203.0.113.9, 10.9.9.9, 10.0.0.5"),
        (b"x-forwarded-host", b"www.example"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-port", b"443"),
        (b"x-forwarded-server", b"front, edge.test"),
        (b"via", b"1.1 front, 1.1 edge.test:8443"),
    ]


def test_trusted_peer_without_headers_gets_ours() -> None:
    headers: Headers = [(b"host", b"edge.test")]
    EDGE.apply(headers, "2001:db8::5", b"edge.test", b"https", 443)
    assert headers == [
        (b"host", b"edge.test"),
        (b"x-forwarded-for", b"2001:db8::5"),
        (b"x-forwarded-host", b"edge.test"),
        (b"x-forwarded-server", b"edge.test"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-port", b"443"),
        (b"via", b"1.1 edge.test:8443"),
    ]


def test_no_host_no_forwarded_host() -> None:
    headers: Headers = [(b"x-forwarded-host", b"spoofed")]
    EDGE.apply(headers, "198.51.100.7", None, b"http", 80)
    assert [name for name, _ in headers] == [
        b"x-forwarded-for",
        b"x-forwarded-server",
        b"x-forwarded-proto",
        b"x-forwarded-port",
        b"via",
    ]


def test_via_alone_and_nothing() -> None:
    via_only = ForwardedHeaders("edge.test", via="1.1 edge", add_forwarded=False)
    headers: Headers = [(b"x-forwarded-for", b"1.2.3.4"), (b"via", b"1.0 a"), (b"via", b"1.1 b")]
    via_only.apply(headers, "198.51.100.7", b"h", b"https", 443)
    assert headers == [(b"x-forwarded-for", b"1.2.3.4"), (b"via", b"1.0 a, 1.1 b, 1.1 edge")]
    nothing = ForwardedHeaders("edge.test", add_forwarded=False)
    headers = [(b"x-forwarded-for", b"1.2.3.4")]
    nothing.apply(headers, "198.51.100.7", b"h", b"https", 443)
    assert headers == [(b"x-forwarded-for", b"1.2.3.4")]


def test_forwarded_rfc7239_is_left_alone() -> None:
    headers: Headers = [(b"forwarded", b"for=1.2.3.4")]
    ForwardedHeaders("e").apply(headers, "198.51.100.7", b"e", b"https", 443)
    assert headers[0] == (b"forwarded", b"for=1.2.3.4")
    assert all(name != b"via" for name, _ in headers)


def test_trust() -> None:
    assert EDGE.is_trusted("10.255.0.1")
    assert EDGE.is_trusted("192.0.2.1")
    assert EDGE.is_trusted("::ffff:10.1.2.3")  # a dual-stack socket's IPv4 peer
    assert EDGE.is_trusted("2001:db8:1::1")
    assert not EDGE.is_trusted("192.0.2.2")
    assert not EDGE.is_trusted("11.0.0.1")
    assert not EDGE.is_trusted("not an address")
    assert not ForwardedHeaders("e").is_trusted("10.0.0.1")
    mapped = ForwardedHeaders("e", ["::ffff:10.0.0.0/104"])
    assert mapped.is_trusted("10.3.3.3")
    assert not mapped.is_trusted("11.3.3.3")


@pytest.mark.parametrize("entry", ["10.0.0.1/8", "300.1.1.1", "edge.test", "10.0.0.0/33", ""])
def test_invalid_trusted_proxy_is_named(entry: str) -> None:
    with pytest.raises(ValueError, match="trusted proxy") as info:
        ForwardedHeaders("e", [entry])
    assert repr(entry) in str(info.value)


@pytest.mark.parametrize(("name", "via"), [("", None), ("a\r\nb", None), ("e", "1.1 e\n")])
def test_header_text_is_checked(name: str, via: str | None) -> None:
    with pytest.raises(ValueError):
        ForwardedHeaders(name, via=via)


def xff(value: bytes) -> Headers:
    return [(b"x-forwarded-for", value)]


@pytest.mark.parametrize(
    ("headers", "peer", "client"),
    [
        (xff(b"203.0.113.9"), "198.51.100.7", "198.51.100.7"),  # untrusted peer: itself
        (xff(b"203.0.113.9"), "10.0.0.1", "203.0.113.9"),
        (xff(b"203.0.113.9, 10.1.1.1,10.2.2.2"), "10.0.0.1", "203.0.113.9"),
        # the spoofed entry left of the first untrusted one is ignored
        (xff(b"1.1.1.1, 203.0.113.9, 10.1.1.1"), "10.0.0.1", "203.0.113.9"),
        # several lines are one list
        (xff(b"203.0.113.9") + xff(b"10.1.1.1"), "10.0.0.1", "203.0.113.9"),
        # all trusted: the leftmost
        (xff(b"10.3.3.3, 10.1.1.1"), "10.0.0.1", "10.3.3.3"),
        # garbage or an empty entry stops the walk at the last good address
        (xff(b"203.0.113.9, junk, 10.1.1.1"), "10.0.0.1", "10.1.1.1"),
        (xff(b"203.0.113.9, , 10.1.1.1"), "10.0.0.1", "10.1.1.1"),
        (xff(b"203.0.113.9:5555"), "10.0.0.1", "10.0.0.1"),
        (xff(b"::FFFF:203.0.113.9"), "10.0.0.1", "203.0.113.9"),
        (xff(b"2001:DB8:0::7"), "10.0.0.1", "2001:db8::7"),
        ([], "10.0.0.1", "10.0.0.1"),
        ([(b"x-real-ip", b"1.2.3.4")], "10.0.0.1", "10.0.0.1"),
    ],
)
def test_client_address(headers: Headers, peer: str, client: str) -> None:
    assert EDGE.client_address(headers, peer) == client


_IPV4 = st.one_of(st.ip_addresses(network="10.0.0.0/8"), st.ip_addresses(v=4)).map(str)


@given(st.lists(_IPV4, max_size=6), _IPV4)
def test_client_is_never_a_spoofed_entry(entries: list[str], peer: str) -> None:
    """Whatever the client sends, the address found is the peer or an entry a trusted proxy
    appended: everything right of it was added by trusted hops, and the walk stopped there
    only because it reached an untrusted address or the start of the list."""
    client = EDGE.client_address(xff(", ".join(entries).encode()), peer)
    chain = [*entries, peer]
    positions = [
        i
        for i, address in enumerate(chain)
        if address == client and all(EDGE.is_trusted(a) for a in chain[i + 1 :])
    ]
    assert any(i == 0 or not EDGE.is_trusted(client) for i in positions)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([b"x-forwarded-for", b"x-forwarded-host", b"a"]), st.binary(max_size=10)
        ),
        max_size=5,
    ),
    _IPV4,
)
def test_untrusted_apply_leaves_exactly_one_of_each(headers: Headers, peer: str) -> None:
    EDGE.apply(headers, peer, b"edge.test", b"https", 443)
    names = [name for name, _ in headers]
    if not EDGE.is_trusted(peer):
        for name in (b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-server"):
            assert names.count(name) == 1
        assert (b"x-forwarded-for", peer.encode()) in headers
    assert names.count(b"via") == 1
