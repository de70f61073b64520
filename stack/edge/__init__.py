"""The TLS edge that replaces Apache: redirects, ProxyPassReverse rewriting, forwarded headers
and Apache-format logs, as sans-IO cores the Twisted layer drives. Never imports the balancer."""
