"""``twistd stack``: options and the service tree.

The config is loaded and validated in ``postOptions``, before twistd daemonizes, so every
error reaches the operator's terminal as ``file:line`` lines, never as a traceback.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from twisted.application.service import IService
from twisted.python import usage

from stack.config import ConfigError, load, summary
from stack.config.model import StackConfig

TIERS = ("edge", "balancer", "vrrp", "demo")


class Options(usage.Options):
    synopsis = "[-c FILE] [--tier NAME]... [--check]"
    longdesc = (
        "Run the tiers FILE describes (HTTPS edge, balancer, VRRP announcer, demo origins). "
        "--check validates FILE and exits, like haproxy -c."
    )
    optParameters = [["config", "c", "etc/stack.ini", "Path to the INI config."]]
    optFlags = [["check", None, "Validate the config, print a summary and exit."]]

    def __init__(self) -> None:
        super().__init__()
        self["tiers"] = []
        self.stack_config: StackConfig | None = None

    def opt_tier(self, name: str) -> None:
        """Run only this tier (repeatable): edge, balancer, vrrp or demo."""
        if name not in TIERS:
            raise usage.UsageError(f"unknown tier {name!r} (choose from {', '.join(TIERS)})")
        self["tiers"].append(name)

    def postOptions(self) -> None:
        try:
            config = load(self["config"])
        except ConfigError as exc:
            self._fail(exc.problems)
        if config.edges:
            from stack.edge.service import check_certificates

            problems = check_certificates(config)
            if problems:
                self._fail(problems)
        if self["check"]:
            sys.stdout.write(summary(config) + "\n")
            raise SystemExit(0)
        wanted = self["tiers"] or list(config.tiers)
        missing = [t for t in wanted if t not in config.tiers]
        if missing:
            raise usage.UsageError(
                f"{self['config']} describes no {', '.join(missing)} tier "
                f"(it has: {', '.join(config.tiers) or 'none'})"
            )
        self["tiers"] = wanted
        self.stack_config = config

    def _fail(self, problems: list[str]) -> NoReturn:
        """Every problem as a ``file:line`` line, then the count, as ``haproxy -c`` ends."""
        sys.stderr.write("".join(f"{p}\n" for p in problems))
        count = len(problems)
        sys.stderr.write(f"stack: {self['config']}: {count} error{'s' * (count != 1)}\n")
        raise SystemExit(1)


def makeService(options: Options, reactor: Any = None) -> IService:
    if reactor is None:
        from stack.reactor import install_default

        install_default()
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor
    config = options.stack_config
    assert config is not None
    tiers = options["tiers"]
    from stack.http.certificates import CertificateError
    from stack.reload import StackService

    # The balancer and the edges form the generation a SIGHUP replaces; the demo origins,
    # the runtime API sockets and the VRRP announcer live across reloads.
    serving = [t for t in tiers if t in ("balancer", "edge")]
    master = config.global_.workers > 1 and bool(serving)
    root: StackService
    try:
        if master:
            from stack.master import MasterService

            # workers = N: this process opens the sockets and runs N worker processes
            root = MasterService(config, tiers, reactor)
        else:
            root = StackService(config, serving, reactor)
    except (CertificateError, OSError) as exc:
        raise SystemExit(f"stack: {exc}") from None
    if "demo" in tiers:
        from stack.demo.service import demo_service

        for demo in config.demos:
            service = demo_service(demo, reactor)
            service.setServiceParent(root)
            root.demos.append(service)
    # The runtime API socket belongs to the balancer's process (the edge's when the file has
    # no balancer, any process when it has neither): split per tier, the other processes
    # would find its path taken. With workers, the master serves it and asks the workers.
    if "balancer" in config.tiers:
        owner = "balancer" in tiers
    else:
        owner = "edge" in tiers or "edge" not in config.tiers
    if config.global_.stats_sockets and owner:
        root.serve_runtime_api()
    if "vrrp" in tiers:
        from stack.vrrp.service import VrrpService

        # Stopped first (StackService.stopService): the address moves while the tiers serve.
        root.vrrp = VrrpService(config, reactor)
        root.vrrp.setServiceParent(root)
    return root
