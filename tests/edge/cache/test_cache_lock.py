"""CacheLock: one fill per key, a bounded waiting list, and locks that age out."""

from __future__ import annotations

from twisted.internet.task import Clock

from stack.edge.cache.lock import CacheLock


def test_first_acquires_others_wait_and_all_wake_on_release() -> None:
    clock = Clock()
    lock = CacheLock(clock, max_age=5.0, max_waiters=10)
    woken: list[int] = []
    assert lock.acquire(b"k")
    assert not lock.acquire(b"k")
    assert lock.wait(b"k", lambda: woken.append(1))
    assert lock.wait(b"k", lambda: woken.append(2))
    lock.release(b"k")
    assert woken == []  # woken on the next reactor turn, never inside release()
    clock.advance(0)
    assert woken == [1, 2]
    assert not lock.held(b"k")
    assert lock.acquire(b"k")


def test_nothing_to_wait_for() -> None:
    lock = CacheLock(Clock(), max_age=5.0, max_waiters=10)
    assert not lock.wait(b"k", lambda: None)


def test_keys_are_independent() -> None:
    lock = CacheLock(Clock(), max_age=5.0, max_waiters=10)
    assert lock.acquire(b"a")
    assert lock.acquire(b"b")
    assert len(lock) == 2


def test_waiting_list_is_bounded() -> None:
    lock = CacheLock(Clock(), max_age=5.0, max_waiters=2)
    lock.acquire(b"k")
    assert lock.wait(b"k", lambda: None)
    assert lock.wait(b"k", lambda: None)
    assert not lock.wait(b"k", lambda: None)  # the third goes to the backend itself


def test_waiters_give_up_when_the_lock_ages_out() -> None:
    clock = Clock()
    lock = CacheLock(clock, max_age=5.0, max_waiters=10)
    woken: list[float] = []
    lock.acquire(b"k")
    clock.advance(2.0)
    lock.wait(b"k", lambda: woken.append(clock.seconds()))
    clock.advance(2.9)
    assert woken == []
    clock.advance(0.1)
    assert woken == [5.0]  # CacheLockMaxAge after the lock was taken, not after the wait
    assert not lock.held(b"k")
    assert not lock.wait(b"k", lambda: None)  # an aged lock holds nobody


def test_an_aged_lock_is_taken_over() -> None:
    clock = Clock()
    lock = CacheLock(clock, max_age=5.0, max_waiters=10)
    lock.acquire(b"k")
    clock.advance(6.0)
    assert lock.acquire(b"k")
    assert lock.held(b"k")


def test_release_cancels_the_age_timer() -> None:
    clock = Clock()
    lock = CacheLock(clock, max_age=5.0, max_waiters=10)
    woken: list[int] = []
    lock.acquire(b"k")
    lock.wait(b"k", lambda: woken.append(1))
    lock.release(b"k")
    clock.advance(0)
    clock.advance(10)
    assert woken == [1]
    assert clock.getDelayedCalls() == []
