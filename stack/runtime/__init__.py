"""HAProxy's runtime API (``stats socket``): :mod:`.api` is the command language tiers register
their commands on, :mod:`.service` serves it on unix sockets. See docs/runtime.md."""

from stack.runtime.api import LEVELS, CommandError, RuntimeApi

__all__ = ["LEVELS", "CommandError", "RuntimeApi"]
