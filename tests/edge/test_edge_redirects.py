"""The edge's HTTPS and trailing-slash redirects (edge.md §3.1), in Apache 2.4's response
shape (http_protocol.c ``ap_send_error_response``, ``get_canned_error_string``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stack.edge.redirects import HttpsRedirect, SlashRedirect, redirect_response
from stack.http.message import Request

NAMES = ["edge.test", "www.edge.test", "::1", "192.0.2.10"]


def request(target: bytes, host: bytes | None = b"edge.test", method: bytes = b"GET") -> Request:
    headers = [(b"host", host)] if host is not None else []
    return Request(method, target, b"1.1" if host is not None else b"1.0", headers)


def head_and_body(response: bytes) -> tuple[dict[bytes, bytes], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    fields = dict(line.split(b": ", 1) for line in lines[1:])
    return {b"status": lines[0], **fields}, body


def location(response: bytes | None) -> bytes:
    assert response is not None
    return head_and_body(response)[0][b"Location"]


# The whole response, byte for byte: Apache 2.4 with ServerSignature Off (its default) sends
# this page; Date and Server are added by the layer that writes it.
APACHE_301 = (
    b"HTTP/1.1 301 Moved Permanently\r\n"
    b"Location: https://edge.test/some/path?q=1\r\n"
    b"Content-Length: 239\r\n"
    b"Content-Type: text/html; charset=iso-8859-1\r\n"
    b"\r\n"
    b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n'
    b"<html><head>\n"
    b"<title>301 Moved Permanently</title>\n"
    b"</head><body>\n"
    b"<h1>Moved Permanently</h1>\n"
    b'<p>The document has moved <a href="https://edge.test/some/path?q=1">here</a>.</p>\n'
    b"</body></html>\n"
)


def test_https_redirect_exact_bytes() -> None:
    redirect = HttpsRedirect(NAMES, "edge.test", 443)
    assert redirect.response(request(b"/some/path?q=1", b"edge.test:80")) == APACHE_301


def test_content_length_is_the_body() -> None:
    redirect = HttpsRedirect(NAMES, "edge.test", 8443, status=308)
    response = redirect.response(request(b"/a?b=c&d=<e>"), close=True)
    assert response is not None
    fields, body = head_and_body(response)
    assert int(fields[b"Content-Length"]) == len(body)
    assert fields[b"status"] == b"HTTP/1.1 308 Permanent Redirect"
    assert b"<title>308 Permanent Redirect</title>" in body


def test_head_gets_the_head_only() -> None:
    redirect = HttpsRedirect(NAMES, "edge.test", 443)
    get = redirect.response(request(b"/x"))
    head = redirect.response(request(b"/x", method=b"HEAD"))
    assert get is not None and head is not None
    assert head.endswith(b"\r\n\r\n")
    assert get.startswith(head)
    assert int(head_and_body(head)[0][b"Content-Length"]) == len(get) - len(head)


def test_connection_close_sits_before_content_type() -> None:
    redirect = HttpsRedirect(NAMES, "edge.test", 443)
    response = redirect.response(request(b"/x"), close=True)
    assert response is not None
    assert b"Content-Length: 227\r\nConnection: close\r\nContent-Type: " in response
    assert b"Connection" not in (redirect.response(request(b"/x")) or b"")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (b"edge.test", b"https://edge.test/p?q"),
        (b"EDGE.Test:80", b"https://edge.test/p?q"),  # case and port: the configured name
        (b"www.edge.test.", b"https://www.edge.test/p?q"),  # trailing dot
        (b"[::1]:8080", b"https://[::1]/p?q"),
        (b"[::1]", b"https://[::1]/p?q"),
        (b"192.0.2.10:80", b"https://192.0.2.10/p?q"),
        (b"evil.example", b"https://edge.test/p?q"),  # never reflected (edge.md §3.1)
        (b"evil.example:443", b"https://edge.test/p?q"),
        (b"edge.test.evil.example", b"https://edge.test/p?q"),
        (b"edge.test:80x", b"https://edge.test/p?q"),  # malformed port
        (b"edge.test@evil.example", b"https://edge.test/p?q"),
        (b"[::1", b"https://edge.test/p?q"),
        (b"", b"https://edge.test/p?q"),
        (None, b"https://edge.test/p?q"),  # HTTP/1.0 without Host: not "https:///p"
    ],
)
def test_host_is_a_configured_name_or_the_default(host: bytes | None, expected: bytes) -> None:
    redirect = HttpsRedirect(NAMES, "edge.test", 443)
    assert location(redirect.response(request(b"/p?q", host))) == expected


def test_port_is_added_unless_443() -> None:
    assert location(HttpsRedirect(NAMES, "edge.test", 8443).response(request(b"/"))) == (
        b"https://edge.test:8443/"
    )
    assert location(HttpsRedirect(NAMES, "edge.test", 443).response(request(b"/"))) == (
        b"https://edge.test/"
    )


def test_path_and_query_kept_as_received() -> None:
    redirect = HttpsRedirect(NAMES, "edge.test", 443)
    # Apache would re-escape this as %c3%a9 (edge.md §3.1); the edge keeps the bytes.
    assert location(redirect.response(request(b"/caf%C3%A9?a=%2F&b"))) == (
        b"https://edge.test/caf%C3%A9?a=%2F&b"
    )


def test_raw_high_bytes_are_percent_encoded() -> None:
    redirect = HttpsRedirect(NAMES, "edge.test", 443)
    assert location(redirect.response(request(b"/caf\xc3\xa9"))) == b"https://edge.test/caf%C3%A9"


def test_acme_challenges_are_served() -> None:
    redirect = HttpsRedirect(NAMES, "edge.test", 443)
    assert redirect.response(request(b"/.well-known/acme-challenge/tok3n")) is None
    assert redirect.response(request(b"/.well-known/acme-challenge/tok3n?x")) is None
    # only that directory, exactly
    assert redirect.response(request(b"/.well-known/acme-challenge")) is not None
    assert redirect.response(request(b"/.well-known/ACME-challenge/x")) is not None
    assert redirect.response(request(b"/.well-known/security.txt")) is not None


def test_options_star_goes_to_the_root() -> None:
    redirect = HttpsRedirect(NAMES, "edge.test", 443)
    assert location(redirect.response(request(b"*", method=b"OPTIONS"))) == b"https://edge.test/"


def test_every_method_is_redirected() -> None:
    redirect = HttpsRedirect(NAMES, "edge.test", 443, status=307)
    response = redirect.response(request(b"/form", method=b"POST"))
    assert response is not None and response.startswith(b"HTTP/1.1 307 Temporary Redirect\r\n")


def test_never_hsts() -> None:
    redirect = HttpsRedirect(NAMES, "edge.test", 443)
    assert b"strict-transport-security" not in (redirect.response(request(b"/")) or b"").lower()


@pytest.mark.parametrize("target", [b"/a\r\nSet-Cookie: x=1", b"/a\nb", b"/a\x00", b"/a b"])
def test_header_breaking_bytes_get_a_400(target: bytes) -> None:
    redirect = HttpsRedirect(NAMES, "edge.test", 443)
    response = redirect.response(request(target))
    assert response is not None
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Location" not in response
    assert b"Connection: close\r\n" in response
    fields, body = head_and_body(response)
    assert int(fields[b"Content-Length"]) == len(body) == 226  # Apache's 400 page


def test_status_and_names_are_checked() -> None:
    with pytest.raises(ValueError, match="300"):
        HttpsRedirect(NAMES, "edge.test", 443, status=300)
    with pytest.raises(ValueError, match="port"):
        HttpsRedirect(NAMES, "edge.test", 0)
    for bad in ("edge.test:8443", "*.edge.test", "bad name", "a/b", "ex_ample..test"):
        with pytest.raises(ValueError, match="server name"):
            HttpsRedirect([bad], "edge.test", 443)
    with pytest.raises(ValueError, match="server name"):
        HttpsRedirect(NAMES, "", 443)
    with pytest.raises(ValueError, match="not a redirect status"):
        redirect_response(200, b"/")


def test_303_has_its_own_sentence() -> None:
    body = redirect_response(303, b"https://e.test/")
    assert b"<p>The answer to your request is located " in body
    assert b'<a href="https://e.test/">here</a>.</p>\n' in body


def test_location_is_html_escaped_in_the_page_only() -> None:
    response = redirect_response(302, b'https://e.test/?a=1&b="<x>"')
    fields, body = head_and_body(response)
    assert fields[b"Location"] == b'https://e.test/?a=1&b="<x>"'
    assert b'href="https://e.test/?a=1&amp;b=&quot;&lt;x&gt;&quot;"' in body


_HOSTS = st.one_of(
    st.binary(max_size=40),
    st.builds(
        lambda name, port: name + port,
        st.sampled_from([b"edge.test", b"WWW.EDGE.TEST", b"[::1]", b"evil.example", b""]),
        st.sampled_from([b"", b":", b":80", b":8443", b":x", b"@evil"]),
    ),
)
_TARGETS = st.builds(lambda rest: b"/" + rest, st.binary(max_size=40)) | st.just(b"*")


@given(_HOSTS, _TARGETS)
def test_location_never_leaves_the_configured_names(host: bytes, target: bytes) -> None:
    redirect = HttpsRedirect(["edge.test", "www.edge.test", "[::1]"], "edge.test", 8443)
    response = redirect.response(request(target, host))
    if response is None:
        assert target.startswith(b"/.well-known/acme-challenge/")
        return
    if response.startswith(b"HTTP/1.1 400 "):
        assert any(b < 0x21 or b == 0x7F for b in target)
        return
    fields, body = head_and_body(response)
    where = fields[b"Location"]
    assert where.startswith(b"https://")
    authority = where[len(b"https://") :].split(b"/", 1)[0]
    assert authority in (b"edge.test:8443", b"www.edge.test:8443", b"[::1]:8443")
    assert all(0x21 <= b <= 0x7E for b in where)
    assert int(fields[b"Content-Length"]) == len(body)


SLASH = SlashRedirect(["/app1", "/fun", "/a/b"])


def test_slash_redirect_exact_bytes() -> None:
    response = SLASH.response(request(b"/app1?x=1"), b"https", b"edge.test:8443", close=True)
    assert response == (
        b"HTTP/1.1 301 Moved Permanently\r\n"
        b"Location: https://edge.test:8443/app1/?x=1\r\n"
        b"Content-Length: 240\r\n"
        b"Connection: close\r\n"
        b"Content-Type: text/html; charset=iso-8859-1\r\n"
        b"\r\n"
        b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n'
        b"<html><head>\n"
        b"<title>301 Moved Permanently</title>\n"
        b"</head><body>\n"
        b"<h1>Moved Permanently</h1>\n"
        b'<p>The document has moved <a href="https://edge.test:8443/app1/?x=1">here</a>.</p>\n'
        b"</body></html>\n"
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (b"/app1", b"https://edge.test/app1/"),
        (b"/app1?", b"https://edge.test/app1/"),
        (b"/fun?a=b&c", b"https://edge.test/fun/?a=b&c"),
        (b"/a/b", b"https://edge.test/a/b/"),
    ],
)
def test_slash_redirect_targets(target: bytes, expected: bytes) -> None:
    assert location(SLASH.response(request(target), b"https", b"edge.test")) == expected


@pytest.mark.parametrize(
    "target", [b"/favicon.ico", b"/app1/", b"/app1/x", b"/APP1", b"/app", b"/app10", b"/", b"*"]
)
def test_slash_redirect_only_for_the_prefixes(target: bytes) -> None:
    assert SLASH.response(request(target), b"https", b"edge.test") is None


def test_slash_redirect_head_and_status() -> None:
    redirect = SlashRedirect(["/app1"], status=302)
    response = redirect.response(request(b"/app1", method=b"HEAD"), b"https", b"e.test")
    assert response is not None
    assert response.startswith(b"HTTP/1.1 302 Found\r\n")
    assert response.endswith(b"\r\n\r\n")


def test_slash_redirect_refuses_a_bad_host() -> None:
    response = SLASH.response(request(b"/app1"), b"https", b"e.test\r\nX-Evil: 1")
    assert response is not None and response.startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize("prefix", ["app1", "/app1/", "/", "", "/a?b", "/a#b", "/a b", "/caf\xe9"])
def test_slash_redirect_prefixes_are_checked(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        SlashRedirect([prefix])


def test_slash_redirect_status_is_checked() -> None:
    with pytest.raises(ValueError, match="304"):
        SlashRedirect(["/a"], status=304)
