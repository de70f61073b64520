"""The VRRP announcer tier: keepalived's role, moving the virtual addresses between balancers."""
