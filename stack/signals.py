"""Operator signals shared by every tier: SIGHUP reloads, SIGUSR1 reopens log files.

One Python handler per signal, installed when the first tier asks, calls every tier's
callback on the reactor thread (``callFromThread``), so a handler never runs tier code in
the middle of a reactor iteration. Apache's and HAProxy's operators send the same signals
from logrotate and their certificate renewal hooks.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

_callbacks: dict[int, list[Callable[[], object]]] = {}


def on_signal(reactor: Any, signum: int, callback: Callable[[], object]) -> Callable[[], None]:
    """Run ``callback`` on the reactor each time ``signum`` arrives; returns the undo."""
    callbacks = _callbacks.setdefault(signum, [])
    if not callbacks:

        def handler(_signum: int, _frame: FrameType | None) -> None:
            for registered in list(_callbacks.get(signum, ())):
                reactor.callFromThread(registered)

        signal.signal(signum, handler)
    callbacks.append(callback)

    def undo() -> None:
        if callback in callbacks:
            callbacks.remove(callback)
        if not callbacks:
            signal.signal(signum, signal.SIG_DFL)

    return undo
