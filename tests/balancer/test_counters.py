"""counters.py: HAProxy's rate counters (freq_ctr) and time averages (swrate), on given times."""

from __future__ import annotations

from stack.balancer.counters import (
    REQUESTS,
    SESSIONS,
    TIME_STATS_SAMPLES,
    FrontendCounters,
    ProxyCounters,
    SessionTimes,
)


def _event(c: ProxyCounters, now: float, n: int = 1) -> None:
    for _ in range(n):
        if now - c.period >= 1.0:
            c.rotate(now)
        c.requests += 1


def test_rate_counts_the_current_second_and_weights_the_previous() -> None:
    c = ProxyCounters()
    assert c.rate(REQUESTS, 100.0) == 0
    _event(c, 100.0, 10)  # period starts at 100.0
    assert c.rate(REQUESTS, 100.5) == 10
    _event(c, 101.0, 4)  # new period at 101.0: previous = 10
    # read_freq_ctr at 101.25: 10 * 750/1000 + 4
    assert c.rate(REQUESTS, 101.25) == 11
    assert c.rate_max(REQUESTS) == 10
    # 1.5 s later, only part of the last period remains
    assert c.rate(REQUESTS, 102.5) == 4 * 500 // 1000
    # two idle periods: nothing left
    assert c.rate(REQUESTS, 104.0) == 0


def test_flapping_correction_at_low_rates() -> None:
    c = ProxyCounters()
    _event(c, 10.0)
    _event(c, 11.2)  # rotation: previous = 1 (one event per second)
    c.rotate(12.2)  # the current period passes without events
    # past <= 1 and nothing in the current period: HAProxy reports the past count as is
    assert c.rate(REQUESTS, 12.9) == 1


def test_missed_periods_reset_the_previous_count() -> None:
    c = ProxyCounters()
    _event(c, 50.0, 7)
    _event(c, 53.4, 2)  # more than two periods later: previous is 0, the period restarts
    assert c.rate_prevs[REQUESTS] == 0
    assert c.period == 53.4
    assert c.rate(REQUESTS, 53.5) == 2
    assert c.rate_max(REQUESTS) == 7


def test_rate_max_includes_the_current_period() -> None:
    c = ProxyCounters()
    _event(c, 1.0, 3)
    _event(c, 2.0, 9)
    assert c.rate_max(REQUESTS) == 9  # not rotated yet, still counted


def test_frontend_accept_counts_sessions_connections_and_the_peak() -> None:
    c = FrontendCounters()
    c.accepted(1, 5.0)
    c.accepted(2, 5.1)
    c.accepted(1, 5.2)
    assert (c.sessions, c.connections, c.max_sessions) == (3, 3, 2)
    assert c.rate(SESSIONS, 5.3) == 3


def _swrate_reference(samples: list[int]) -> tuple[int, int]:
    """Direct transcription of HAProxy 2.6 swrate_add_dynamic + swrate_avg (stream.c, stats.c)."""
    total = 0
    for count, v in enumerate(samples, 1):
        n = TIME_STATS_SAMPLES if count > TIME_STATS_SAMPLES else 0
        total = total - ((total + n - 1) // n if n else 0) + v
    cum = len(samples)
    n = cum if 0 < cum < TIME_STATS_SAMPLES else TIME_STATS_SAMPLES
    return total, (total + n - 1) // n


def test_time_averages_follow_swrate() -> None:
    values = [(i * 37) % 101 for i in range(3000)]
    times = SessionTimes()
    for count, v in enumerate(values, 1):
        times.add(count, v, v + 1, v * 2, v * 3)
        if count in (1, 5, 1024, 1025, 2999):
            total, avg = _swrate_reference(values[:count])
            assert times.q_sum == total
            assert times.averages(count)[0] == avg
    assert times.qtime_max == max(values)
    assert times.ttime_max == 3 * max(values)


def test_time_average_of_a_few_requests_is_their_mean_rounded_up() -> None:
    times = SessionTimes()
    times.add(1, 0, 1, 10, 20)
    times.add(2, 0, 2, 11, 21)
    assert times.averages(2) == (0, 2, 11, 21)
    assert times.averages(0) == (0, 1, 1, 1)  # HAProxy divides by the window when no request
