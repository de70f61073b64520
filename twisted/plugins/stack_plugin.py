"""twistd plugin: ``twistd stack -c FILE``.

Kept to one lazy ServiceMaker so that every ``twistd`` invocation (which imports all plugin
modules) pays nothing for stack's own imports.
"""

from twisted.application.service import ServiceMaker

stack = ServiceMaker(
    "stack",
    "stack.tap",
    "HTTPS edge, L7 balancer and VRRP announcer in one process",
    "stack",
)
