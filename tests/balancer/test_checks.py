"""The health-check core against HAProxy 2.6: counter, timers, request bytes, verdicts, logs.

The observed values come from /work/shared/reference: the check requests the origin received
(haproxy-2.6-health-check-requests.txt), the syslog lines (haproxy-2.6-syslog-samples.txt,
copied below) and haproxy.md section 1.6; the rest follows src/check.c, src/tcpcheck.c and
src/server.c at v2.6.0.
"""

from __future__ import annotations

import random
import re

import pytest

from stack.balancer import checks
from stack.balancer.checks import (
    CheckResult,
    HealthState,
    HttpCheckExchange,
    Stage,
    Transition,
    evaluate_http_response,
    http_check_request,
)
from stack.config.model import (
    ConnectionMode,
    Endpoint,
    HttpCheck,
    HttpCheckExpect,
    Server,
)

# haproxy-2.6-syslog-samples.txt, without the syslog header.
OBSERVED_FAILED = (
    "Health check for server be_chk/c1 failed, reason: Layer7 wrong status, code: 503, "
    'info: "Service Unavailable", check duration: 1ms, status: 0/2 DOWN.'
)
OBSERVED_DOWN = (
    "Server be_chk/c1 is DOWN. 0 active and 0 backup servers left. 0 sessions active, "
    "0 requeued, 0 remaining in queue."
)
OBSERVED_NO_SERVER = "backend be_chk has no server available!"
OBSERVED_RISING = (
    "Health check for server be_chk/c1 succeeded, reason: Layer7 check passed, code: 200, "
    "check duration: 1ms, status: 1/2 DOWN."
)
OBSERVED_RISEN = (
    "Health check for server be_chk/c1 succeeded, reason: Layer7 check passed, code: 200, "
    "check duration: 1ms, status: 3/3 UP."
)
OBSERVED_UP = (
    "Server be_chk/c1 is UP. 1 active and 0 backup servers online. 0 sessions requeued, "
    "0 total in queue."
)
OBSERVED_L4_DOWN = (
    'Server be_dead/d1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", '
    "check duration: 0ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, "
    "0 remaining in queue."
)
OBSERVED_L4_DOWN_ONE_LEFT = (
    'Server be_downck/a is DOWN, reason: Layer4 connection problem, info: "Connection '
    'refused", check duration: 0ms. 1 active and 0 backup servers left. 0 sessions active, '
    "0 requeued, 0 remaining in queue."
)


def server(**kw: object) -> Server:
    kw.setdefault("name", "c1")
    kw.setdefault("address", Endpoint("127.0.0.1", 18091))
    kw.setdefault("check", True)
    return Server(**kw)  # type: ignore[arg-type]


BE_CHK = server(inter=1.0, fastinter=0.25, downinter=3.0, rise=2, fall=3)
L7STS_503 = CheckResult("L7STS", 503, "Service Unavailable")
L7OK_200 = CheckResult("L7OK", 200)


# -- the health counter ----------------------------------------------------------------------------


def test_a_fresh_server_is_up_at_rise_and_one_failure_takes_it_down() -> None:
    state = HealthState(rise=2, fall=3)
    assert state.health == 2 and state.up and not state.fully_up
    assert state.status_text() == "1/3 UP"
    assert state.record(False) == Transition(up=False)
    assert state.health == 0 and state.status_text() == "0/2 DOWN"


def test_observed_rise2_fall3_sequence() -> None:
    """503, 200, 200: 0/2 DOWN at once, 1/2 DOWN, then 3/3 UP (and UP only then)."""
    state = HealthState(rise=2, fall=3)
    assert state.observe(L7STS_503) == (True, Transition(up=False))
    assert state.status_text() == "0/2 DOWN"
    assert state.observe(L7OK_200) == (True, None)
    assert state.status_text() == "1/2 DOWN"
    assert state.observe(L7OK_200) == (True, Transition(up=True))
    assert state.status_text() == "3/3 UP" and state.fully_up
    # Fully up and still passing: nothing moves, nothing is logged.
    assert state.observe(L7OK_200) == (False, None)


def test_a_fully_up_server_needs_fall_failures() -> None:
    state = HealthState(rise=2, fall=3)
    state.record(True)
    assert state.fully_up and state.health == 4
    assert state.record(False) is None and state.status_text() == "2/3 UP"
    assert state.record(False) is None and state.status_text() == "1/3 UP"
    assert state.record(False) == Transition(up=False)
    assert state.status_text() == "0/2 DOWN"


def test_a_success_while_going_down_goes_back_to_fully_up() -> None:
    state = HealthState(rise=2, fall=3)
    state.record(True)
    state.record(False)
    assert state.record(True) is None
    assert state.fully_up and state.status_text() == "3/3 UP"


def test_failures_while_down_change_nothing_and_log_only_on_a_new_status() -> None:
    state = HealthState(rise=2, fall=3)
    state.observe(L7STS_503)
    assert state.observe(L7STS_503) == (False, None)
    assert not state.changed
    assert state.observe(checks.connect_failure(111)) == (True, None)


def test_rise_1_fall_1() -> None:
    state = HealthState(rise=1, fall=1)
    assert state.fully_up and state.status_text() == "1/1 UP"
    assert state.record(False) == Transition(up=False)
    assert state.status_text() == "0/1 DOWN"
    assert state.record(True) == Transition(up=True)


def test_drain_label_for_weight_zero() -> None:
    assert HealthState(2, 3).status_text(weight=0) == "1/3 DRAIN"


# -- intervals -------------------------------------------------------------------------------------


def test_intervals_follow_srv_getinter() -> None:
    state = HealthState(rise=2, fall=3)
    assert state.next_interval(BE_CHK) == 0.25  # never checked: fastinter
    state.record(False)
    assert state.next_interval(BE_CHK) == 3.0  # fully down: downinter
    state.record(True)
    assert state.next_interval(BE_CHK) == 0.25  # going up: fastinter
    state.record(True)
    assert state.next_interval(BE_CHK) == 1.0  # fully up: inter
    state.record(False)
    assert state.next_interval(BE_CHK) == 0.25  # going down: fastinter


def test_fastinter_and_downinter_default_to_inter() -> None:
    config = server(inter=2.0)
    state = HealthState(2, 3)
    assert state.next_interval(config) == 2.0
    state.record(False)
    assert state.next_interval(config) == 2.0


def test_first_checks_spread_over_the_smallest_long_interval() -> None:
    """Observed: be_chk_default/c0 (inter 10s) then be_chk/c1 (fastinter 250ms) -> 0 s, 5 s."""
    c0 = server(name="c0", inter=10.0)
    assert checks.first_check_delays([c0, BE_CHK]) == [0.0, 5.0]
    # Configuration 2 with be_downck/a and be_persist/a (inter 500ms): quarters of 10 s.
    a = server(name="a", inter=0.5)
    assert checks.first_check_delays([c0, BE_CHK, a, a]) == [0.0, 2.5, 5.0, 7.5]
    # A shorter interval does not shorten the others' spread; below 1 s nothing dictates it.
    assert checks.first_check_delays([a, a]) == [0.0, 0.25]
    # mininter = 2 s (the smallest >= 1 s); milliseconds, integer division.
    assert checks.first_check_delays([server(inter=3.0), c0, server(inter=2.0)]) == [
        0.0,
        3.333,
        1.333,
    ]
    assert checks.first_check_delays([]) == []


class FixedRandom(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def test_spread_checks_jitter() -> None:
    assert checks.spread_interval(2.0, 0, random.Random(1)) == 2.0
    # rv = 2000 * 10 / 100 = 200; rv -= int(2 * rv * r)
    assert checks.spread_interval(2.0, 10, FixedRandom(0.0)) == 2.2
    assert checks.spread_interval(2.0, 10, FixedRandom(0.5)) == 2.0
    assert checks.spread_interval(2.0, 10, FixedRandom(0.75)) == 1.9
    assert checks.spread_interval(2.0, 10, FixedRandom(0.999999)) == 1.801  # int() truncates
    rng = random.Random(42)
    for _ in range(200):
        assert 1.0 <= checks.spread_interval(2.0, 50, rng) <= 3.0


def test_check_timeouts() -> None:
    config = server(inter=2.0)
    assert checks.check_timeouts(config, 5.0, None) == (2.0, None)  # inter bounds everything
    assert checks.check_timeouts(config, 5.0, 10.0) == (2.0, 10.0)
    assert checks.check_timeouts(config, 1.0, 10.0) == (1.0, 10.0)
    assert checks.check_timeouts(config, None, 10.0) == (2.0, 10.0)


# -- request bytes ---------------------------------------------------------------------------------


def test_default_httpchk_is_options_http10_without_headers() -> None:
    assert http_check_request(HttpCheck()) == b"OPTIONS / HTTP/1.0\r\n\r\n"


def test_observed_http11_with_send_hdr_host() -> None:
    """``option httpchk GET /health HTTP/1.1`` + ``http-check send hdr Host www.example.com``:
    the origin got host and connection: close, nothing else."""
    check = HttpCheck("GET", "/health", "HTTP/1.1", ((b"Host", b"www.example.com"),))
    assert http_check_request(check, "127.0.0.1:18091") == (
        b"GET /health HTTP/1.1\r\nhost: www.example.com\r\nconnection: close\r\n\r\n"
    )


def test_seed_003_legacy_host_header() -> None:
    """``option httpchk GET /resource/hc/application HTTP/1.1\\r\\nHost:\\ myhost...``."""
    check = HttpCheck(
        "GET", "/resource/hc/application", "HTTP/1.1", ((b"Host", b"myhost.mydomain.com"),)
    )
    assert http_check_request(check, "10.22.1.18:443") == (
        b"GET /resource/hc/application HTTP/1.1\r\n"
        b"host: myhost.mydomain.com\r\nconnection: close\r\n\r\n"
    )


def test_seed_004_legacy_user_agent_http10() -> None:
    """``option httpchk GET / HTTP/1.0\\r\\nUser-Agent:\\ HAProxy``: HTTP/1.0 closes by
    default, so no connection header."""
    check = HttpCheck("GET", "/", "HTTP/1.0", ((b"User-Agent", b"HAProxy"),))
    assert http_check_request(check) == b"GET / HTTP/1.0\r\nuser-agent: HAProxy\r\n\r\n"


def test_body_gets_content_length_before_connection() -> None:
    check = HttpCheck("POST", "/hc", "HTTP/1.1", ((b"Host", b"h"),), body=b"ping")
    assert http_check_request(check) == (
        b"POST /hc HTTP/1.1\r\nhost: h\r\ncontent-length: 4\r\nconnection: close\r\n\r\nping"
    )


@pytest.mark.parametrize(
    ("method", "length"),
    [("GET", False), ("HEAD", False), ("OPTIONS", False), ("DELETE", False), ("POST", True)],
)
def test_content_length_zero_only_for_methods_that_expect_a_body(method: str, length: bool) -> None:
    request = http_check_request(HttpCheck(method, "/", "HTTP/1.0"))
    assert (b"content-length: 0\r\n" in request) is length


def test_configured_connection_header() -> None:
    keep = ((b"Connection", b"keep-alive"),)
    assert http_check_request(HttpCheck("GET", "/", "HTTP/1.0", keep)) == (
        b"GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n"
    )
    assert http_check_request(HttpCheck("GET", "/", "HTTP/1.1", keep)) == (
        b"GET / HTTP/1.1\r\n\r\n"
    )
    close = ((b"Connection", b"close"),)
    assert http_check_request(HttpCheck("GET", "/", "HTTP/1.1", close)) == (
        b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n"
    )
    other = ((b"Connection", b"foo, close, bar"),)
    assert http_check_request(HttpCheck("GET", "/", "HTTP/1.1", other)) == (
        b"GET / HTTP/1.1\r\nconnection: foo,bar\r\nconnection: close\r\n\r\n"
    )
    # Neither token: the backend's http mode decides.
    plain = ((b"Connection", b"foo"),)
    assert http_check_request(HttpCheck("GET", "/", "HTTP/1.1", plain)) == (
        b"GET / HTTP/1.1\r\nconnection: foo\r\n\r\n"
    )
    assert http_check_request(
        HttpCheck("GET", "/", "HTTP/1.1", plain), connection_mode=ConnectionMode.CLOSE
    ) == (b"GET / HTTP/1.1\r\nconnection: foo\r\nconnection: close\r\n\r\n")


def test_empty_header_values_are_skipped_and_versions_normalised() -> None:
    check = HttpCheck("GET", "/", "HTTP/1.1", ((b"X-Empty", b""), (b"X-A", b"1")))
    assert http_check_request(check) == b"GET / HTTP/1.1\r\nx-a: 1\r\nconnection: close\r\n\r\n"
    # "HTTP/2" is written HTTP/1.1 on the request line but the mux treats it as 1.0.
    assert http_check_request(HttpCheck("GET", "/", "HTTP/2")) == b"GET / HTTP/1.1\r\n\r\n"


# -- verdicts --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "verdict"), [(200, "L7OK"), (204, "L7OK"), (302, "L7OK"), (399, "L7OK")]
)
def test_default_expect_passes_2xx_3xx(status: int, verdict: str) -> None:
    result = evaluate_http_response(HttpCheck(), status, b"Whatever", b"")
    assert result == CheckResult(verdict, status)
    assert result.reason(2) == f"Layer7 check passed, code: {status}, check duration: 2ms"


@pytest.mark.parametrize("status", [100, 400, 404, 500, 503])
def test_default_expect_fails_others_with_the_reason_phrase(status: int) -> None:
    result = evaluate_http_response(HttpCheck(), status, b"Nope", b"")
    assert result == CheckResult("L7STS", status, "Nope")
    assert not result.passed


def test_observed_wrong_status_reason() -> None:
    result = evaluate_http_response(HttpCheck(), 503, b"Service Unavailable", b"")
    assert result.reason(1) == (
        'Layer7 wrong status, code: 503, info: "Service Unavailable", check duration: 1ms'
    )
    # No reason phrase: no info.
    assert evaluate_http_response(HttpCheck(), 503, b"", b"").reason(0) == (
        "Layer7 wrong status, code: 503, check duration: 0ms"
    )


def _expect(**kw: object) -> HttpCheck:
    return HttpCheck(expect=HttpCheckExpect(**kw))  # type: ignore[arg-type]


def test_expect_status_lists_and_negation() -> None:
    only_200 = _expect(kind="status", statuses=((200, 200),))
    assert evaluate_http_response(only_200, 200, b"OK", b"").passed
    assert evaluate_http_response(only_200, 301, b"Moved", b"").status == "L7STS"
    several = _expect(kind="status", statuses=((200, 200), (302, 302)))
    assert evaluate_http_response(several, 302, b"Found", b"").passed
    not_503 = _expect(kind="status", negate=True, statuses=((503, 503),))
    assert evaluate_http_response(not_503, 500, b"Oops", b"").passed
    assert evaluate_http_response(not_503, 503, b"Busy", b"") == CheckResult("L7STS", 503, "Busy")


def test_expect_rstatus() -> None:
    check = _expect(kind="rstatus", regex=re.compile(rb"^2"))
    assert evaluate_http_response(check, 204, b"No Content", b"").passed
    assert evaluate_http_response(check, 302, b"Found", b"") == CheckResult("L7STS", 302, "Found")
    negated = _expect(kind="rstatus", negate=True, regex=re.compile(rb"^5"))
    assert evaluate_http_response(negated, 200, b"OK", b"").passed
    assert not evaluate_http_response(negated, 502, b"Bad", b"").passed


def test_expect_string_and_rstring() -> None:
    check = _expect(kind="string", text=b"alive")
    assert evaluate_http_response(check, 200, b"OK", b"I am alive") == CheckResult("L7OK", 200)
    # A body rule ignores the status.
    assert evaluate_http_response(check, 500, b"Err", b"alive").passed
    missed = evaluate_http_response(check, 200, b"OK", b"dead")
    assert missed == CheckResult("L7RSP", 200, "HTTP content check did not match")
    assert missed.reason(3) == (
        'Layer7 invalid response, info: "HTTP content check did not match", check duration: 3ms'
    )
    assert evaluate_http_response(check, 200, b"OK", b"") == CheckResult(
        "L7RSP", 200, "HTTP content check could not find a response body"
    )
    negated = _expect(kind="string", negate=True, text=b"maintenance")
    assert evaluate_http_response(negated, 200, b"OK", b"fine").passed
    assert evaluate_http_response(negated, 200, b"OK", b"in maintenance") == CheckResult(
        "L7RSP", 200, "HTTP check matched unwanted content"
    )
    regex = _expect(kind="rstring", regex=re.compile(rb"status: (ok|degraded)"))
    assert evaluate_http_response(regex, 200, b"OK", b"status: degraded").passed
    assert not evaluate_http_response(regex, 200, b"OK", b"status: down").passed


# -- the response side of an exchange --------------------------------------------------------------


def test_status_rules_decide_on_the_head() -> None:
    exchange = HttpCheckExchange(HttpCheck())
    result = exchange.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nxx")
    assert result == CheckResult("L7OK", 200)
    assert exchange.feed(b"more") is result


def test_status_rule_waits_for_a_complete_head() -> None:
    exchange = HttpCheckExchange(HttpCheck())
    assert exchange.feed(b"HTTP/1.1 503 Service Unav") is None
    assert exchange.feed(b"ailable\r\nContent-Length: 0\r\n\r\n") == L7STS_503


def test_body_rules_wait_for_the_match() -> None:
    exchange = HttpCheckExchange(_expect(kind="string", text=b"alive"))
    assert exchange.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nI am a") is None
    assert exchange.feed(b"live") == CheckResult("L7OK", 200)


def test_body_rules_decide_at_the_end_of_the_response_or_at_close() -> None:
    ended = HttpCheckExchange(_expect(kind="string", text=b"alive"))
    assert ended.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndead") == CheckResult(
        "L7RSP", 200, "HTTP content check did not match"
    )
    closed = HttpCheckExchange(_expect(kind="string", text=b"alive"))
    assert closed.feed(b"HTTP/1.0 200 OK\r\n\r\ndea") is None
    assert closed.closed() == CheckResult("L7RSP", 200, "HTTP content check did not match")


def test_body_reading_is_bounded_by_tune_bufsize() -> None:
    exchange = HttpCheckExchange(_expect(kind="string", text=b"needle"))
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 30000\r\n\r\n"
    assert exchange.feed(head) is None
    result = exchange.feed(b"x" * 20000 + b"needle")
    assert result == CheckResult("L7RSP", 200, "HTTP content check did not match")


def test_broken_responses() -> None:
    assert HttpCheckExchange(HttpCheck()).feed(b"SMTP ready\r\n") == CheckResult("L7RSP")
    assert HttpCheckExchange(HttpCheck()).closed() == CheckResult("L7RSP")
    truncated = HttpCheckExchange(HttpCheck())
    truncated.feed(b"HTTP/1.1 200")
    assert truncated.closed() == CheckResult("L7RSP")
    reset = HttpCheckExchange(HttpCheck()).closed(104)
    assert reset == CheckResult("SOCKERR", info="Connection reset by peer")
    assert reset.reason(0) == (
        'Socket error, info: "Connection reset by peer", check duration: 0ms'
    )
    huge_head = HttpCheckExchange(HttpCheck())
    assert huge_head.feed(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 17000) == CheckResult("L7RSP")


def test_interim_responses_and_head_checks() -> None:
    exchange = HttpCheckExchange(HttpCheck())
    assert exchange.feed(b"HTTP/1.1 100 Continue\r\n\r\n") is None
    assert exchange.feed(b"HTTP/1.1 503 Service Unavailable\r\n\r\n") == L7STS_503
    head = HttpCheckExchange(HttpCheck("HEAD", "/", "HTTP/1.1", (), b"", None))
    assert head.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n") == L7OK_200


# -- connection-level results ---------------------------------------------------------------------


def test_layer4_and_layer6_results() -> None:
    refused = checks.connect_failure(111)
    assert refused.reason(0) == (
        'Layer4 connection problem, info: "Connection refused", check duration: 0ms'
    )
    assert checks.connected(tls=False).reason(0) == "Layer4 check passed, check duration: 0ms"
    assert checks.connected(tls=True).reason(1) == "Layer6 check passed, check duration: 1ms"
    assert checks.timed_out(Stage.CONNECTING).reason(2001) == (
        "Layer4 timeout, check duration: 2001ms"
    )
    assert checks.timed_out(Stage.HANDSHAKE).status == "L6TOUT"
    assert checks.timed_out(Stage.EXCHANGE).reason(5) == "Layer7 timeout, check duration: 5ms"
    assert checks.tls_failure().reason(3) == (
        'Layer6 invalid response, info: "SSL handshake failure", check duration: 3ms'
    )
    assert checks.connect_failure(None, "oops").info == "oops"


def test_info_is_ascii_encoded_and_cut() -> None:
    odd = CheckResult("L7STS", 500, 'say "hi" <now>\x01é')
    assert odd.reason(None) == (
        'Layer7 wrong status, code: 500, info: "say <22>hi<22> <3C>now<3E><01><E9>"'
    )
    long = CheckResult("L7STS", 500, "x" * 300)
    assert long.reason(None).count("x") == 127


# -- log lines -------------------------------------------------------------------------------------


def test_observed_health_check_lines() -> None:
    state = HealthState(rise=2, fall=3)
    state.observe(L7STS_503)
    assert checks.health_check_line("be_chk", "c1", L7STS_503, 1, state) == OBSERVED_FAILED
    state.observe(L7OK_200)
    assert checks.health_check_line("be_chk", "c1", L7OK_200, 1, state) == OBSERVED_RISING
    state.observe(L7OK_200)
    assert checks.health_check_line("be_chk", "c1", L7OK_200, 1, state) == OBSERVED_RISEN


def test_observed_state_change_lines() -> None:
    assert checks.server_down_line("be_chk", "c1", active=0, backups=0) == OBSERVED_DOWN
    assert checks.no_server_line("be_chk") == OBSERVED_NO_SERVER
    assert checks.server_up_line("be_chk", "c1", active=1, backups=0) == OBSERVED_UP
    refused = checks.connect_failure(111)
    assert (
        checks.server_down_line("be_dead", "d1", active=0, backups=0, result=refused, duration_ms=0)
        == OBSERVED_L4_DOWN
    )
    assert (
        checks.server_down_line(
            "be_downck", "a", active=1, backups=0, result=refused, duration_ms=0
        )
        == OBSERVED_L4_DOWN_ONE_LEFT
    )


def test_backup_servers_and_running_on_backup() -> None:
    state = HealthState(2, 3)
    state.observe(L7STS_503)
    assert checks.health_check_line("be", "b1", L7STS_503, 4, state, backup=True).startswith(
        "Health check for backup server be/b1 failed, "
    )
    assert checks.server_down_line(
        "be", "s1", active=0, backups=1, sessions=3, requeued=2, queued=1
    ) == (
        "Server be/s1 is DOWN. 0 active and 1 backup servers left. Running on backup. "
        "3 sessions active, 2 requeued, 1 remaining in queue."
    )
    assert checks.server_up_line(
        "be", "b1", active=0, backups=1, backup=True, result=L7OK_200, duration_ms=2
    ) == (
        "Backup Server be/b1 is UP, reason: Layer7 check passed, code: 200, check duration: "
        "2ms. 0 active and 1 backup servers online. Running on backup. 0 sessions requeued, "
        "0 total in queue."
    )
    assert checks.no_server_line("web", kind="proxy") == "proxy web has no server available!"


def test_severities() -> None:
    assert checks.severity(OBSERVED_FAILED) == "notice"
    assert checks.severity(OBSERVED_DOWN) == "alert"
    assert checks.severity(OBSERVED_L4_DOWN) == "alert"
    assert checks.severity(OBSERVED_UP) == "notice"
    assert checks.severity(OBSERVED_NO_SERVER) == "emerg"


# -- slowstart -------------------------------------------------------------------------------------


def test_slowstart_weight_ramp() -> None:
    factor = checks.slowstart_weight_factor
    assert factor(0, 10) == 1 / 16  # (16 * 0 + 10) // 10 = 1 sixteenth at once
    assert factor(5, 10) == 9 / 16
    assert factor(9.9, 10) == 15 / 16  # whole seconds
    assert factor(10, 10) == 1.0
    assert factor(3, 0) == 1.0
    assert factor(-1, 10) == 1.0
    assert factor(0.5, 0.5) == 1 / 16  # slowstart rounds up to whole seconds
    ramp = [factor(t, 60) for t in range(61)]
    assert ramp == sorted(ramp) and ramp[-1] == 1.0


def test_slowstart_maxconn_and_warmup_period() -> None:
    assert checks.slowstart_maxconn(100, 0, 10) == 1
    assert checks.slowstart_maxconn(100, 5, 10) == 50
    assert checks.slowstart_maxconn(100, 10, 10) == 100
    assert checks.slowstart_maxconn(0, 5, 10) == 0
    assert checks.warmup_interval(10) == 1.0
    assert checks.warmup_interval(100_000) == 5.0
