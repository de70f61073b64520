"""Stick-table replication with HAProxy's peers protocol 2.1 (``[peers]`` sections).

:mod:`~stack.peers.codec` (wire format), :mod:`~stack.peers.session` (sans-IO sessions and
resync), :mod:`~stack.peers.service` (Twisted glue), :mod:`~stack.peers.commands`
(``show peers``). Operator documentation: docs/peers.md.
"""
