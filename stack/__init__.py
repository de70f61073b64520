"""stack: the Apache edge, HAProxy balancer and keepalived announcer trio in one Twisted program."""

__version__ = "0.1.0"
