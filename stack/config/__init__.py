"""stack's configuration: an INI file in HAProxy's vocabulary, loaded into an immutable model.

``load(path)`` returns a :class:`~stack.config.model.StackConfig` or raises
:class:`ConfigError` listing every problem; ``summary(cfg)`` is the one-line report of
``haproxy -c``. See docs/config.md for the format.
"""

from .errors import ConfigError
from .loader import load, summary

__all__ = ["ConfigError", "load", "summary"]
