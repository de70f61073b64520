"""Turn an INI file into the immutable :class:`~stack.config.model.StackConfig`.

The loader is the only place that validates: it checks the whole file and reports every
problem at once (``FILE:LINE: [SECTION] KEY: message``), as ``haproxy -c`` does, so an
operator fixes a file in one pass and no traceback ever reaches them. Sections are read in
three steps: ``[global]`` first (``log global`` needs its targets), then ``[defaults]`` (it
applies to every proxy wherever it is written), then the proxies, demo origins, edges and
keepalived's sections (``stack.config.vrrp``) in file order; references between sections
(backends, binds, tracked scripts) are checked once everything is known.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from . import directives as dirs
from . import ini
from .conditions import (
    PREDEFINED,
    check_name,
    condition_acls,
    parse_acl,
    parse_condition,
    suggest,
)
from .directives import Directive
from .durations import format_duration, parse_duration
from .edge import EdgeDraft, read_edge
from .errors import ConfigError, Invalid, Problems
from .model import (
    Acl,
    Backend,
    Balance,
    Condition,
    ConnectionMode,
    CookiePersistence,
    DemoServer,
    Edge,
    Endpoint,
    ErrorFile,
    ForwardFor,
    Frontend,
    Global,
    HeaderRule,
    HttpCheck,
    HttpCheckExpect,
    Limits,
    LogTarget,
    Origin,
    PeersSection,
    Redirect,
    Sample,
    Server,
    StackConfig,
    StatsPage,
    StatsSocket,
    StickRule,
    StickTable,
    Timeouts,
    UseBackend,
)
from .peers import PeersDraft, read_peers, resolve_peers
from .values import (
    INT_MAX,
    WILDCARDS,
    AppSession,
    HttpCheckSend,
    ServerDefaults,
    merge_http_check,
    overlaps,
    parse_appsession,
    parse_balance,
    parse_bind,
    parse_cookie,
    parse_default_server,
    parse_endpoint,
    parse_forwardfor,
    parse_header_rule,
    parse_http_check_expect,
    parse_http_check_send,
    parse_httpchk,
    parse_int,
    parse_log_target,
    parse_redirect,
    parse_server,
    parse_stick_rule,
    parse_stick_table,
    parse_switch,
)
from .vrrp import InstanceDraft, ScriptDraft, read_vrrp_instance, read_vrrp_script, resolve
from .words import WordError, join_words, split_words

T = TypeVar("T")

MAX_WORKERS = 64
# How long a stop or a reload lets requests in flight finish, unless 'hard-stop-after' says.
HARD_STOP_AFTER = 30.0

# The status codes HAProxy accepts in errorfile (haproxy.md §1.11).
ERRORFILE_CODES: tuple[int, ...] = (
    *(200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 414, 425, 429, 431),
    *(500, 501, 502, 503, 504),
)

_TIMEOUT_FIELDS = {
    "timeout connect": "connect",
    "timeout client": "client",
    "timeout server": "server",
    "timeout http-request": "http_request",
    "timeout http-keep-alive": "http_keep_alive",
    "timeout queue": "queue",
    "timeout client-fin": "client_fin",
}
_REPEATABLE_HINT = (
    "; only bind, log, acl, use_backend, http-request, http-response, redirect, default-server, "
    "stats socket and the stick rules take one per line"
)
_MODES = {
    "option http-keep-alive": ConnectionMode.KEEP_ALIVE,
    "option http-server-close": ConnectionMode.SERVER_CLOSE,
    "option httpclose": ConnectionMode.CLOSE,
}
# option switches stored as a draft attribute of the same name
_SWITCHES = {
    "option redispatch": "redispatch",
    "option httplog": "httplog",
    "option dontlognull": "dontlognull",
    "option persist": "persist",
    "option allbackups": "allbackups",
    "option log-health-checks": "log_health_checks",
}
# directives whose first value word is a name (written in the value, not in the key)
_NAME_FIRST = {"cookie": "cookie", "appsession": "cookie"}

_SUN_PATH_MAX = 107  # bytes in sockaddr_un.sun_path, less the final NUL
# HAProxy bind options a stats socket line may carry that stack does not take yet
_OWNER_HINT = (
    ": the socket belongs to the user stack runs as (twistd --uid); 'mode' says who else may use it"
)
_STATS_SOCKET_NOT_YET = {
    **dict.fromkeys(("user", "group", "uid", "gid"), _OWNER_HINT),
    **dict.fromkeys(
        ("severity-output", "maxconn", "name", "id", "nice", "process", "thread", "backlog"), ""
    ),
    **dict.fromkeys(("accept-proxy", "accept-netscaler-cip"), ""),
}


def load(path: str) -> StackConfig:
    """Read and validate ``path``; raise :class:`ConfigError` listing every problem."""
    problems = Problems(path)
    try:
        config = _Loader(path, problems).run()
    except Exception as exc:  # an operator gets a message, never a traceback
        problems.add(
            f"internal error while checking the configuration ({type(exc).__name__}: {exc}); "
            "please report it with this file"
        )
        config = None
    if problems or config is None:
        raise problems.error()
    return config


def summary(cfg: StackConfig) -> str:
    """One line like ``haproxy -c``'s, for ``twistd stack --check`` and the startup log."""
    servers = sum(len(b.servers) for b in cfg.backends)
    counts = [
        *([_plural(len(cfg.edges), "edge")] if cfg.edges else []),
        _plural(len(cfg.frontends), "frontend"),
        _plural(len(cfg.backends), "backend"),
        _plural(servers, "server"),
        _plural(len(cfg.demos), "demo server"),
        *([_plural(len(cfg.vrrp_instances), "vrrp instance")] if cfg.vrrp_instances else []),
    ]
    return f"Configuration file is valid: {cfg.path} ({', '.join(counts)})"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# --- per-section drafts --------------------------------------------------------------------------


@dataclass
class _Draft:
    """What one section says, before defaults are applied; ``None`` means "not written"."""

    kind: str
    name: str
    header: str
    line: int
    maxconn: int | None = None
    logs: list[LogTarget] | None = None
    retries: int | None = None
    balance: Balance | None = None
    timeouts: dict[str, float | None] = field(default_factory=dict)
    redispatch: bool | None = None
    forwardfor_set: bool = False
    forwardfor: ForwardFor | None = None
    modes: dict[ConnectionMode, tuple[bool, Origin]] = field(default_factory=dict)
    httplog: bool | None = None
    dontlognull: bool | None = None
    errorfiles: dict[int, ErrorFile] = field(default_factory=dict)
    binds: list[tuple[Endpoint, Origin]] = field(default_factory=list)
    acl_lines: list[tuple[str, list[str], Origin]] = field(default_factory=list)
    acl_names: dict[str, None] = field(default_factory=dict)  # in file order
    use_backends: list[tuple[str, list[str], Origin]] = field(default_factory=list)
    default_backend: tuple[str, Origin] | None = None
    servers: list[Server] = field(default_factory=list)
    rules: dict[str, list[tuple[list[str], Origin]]] = field(
        default_factory=lambda: {"http-request": [], "http-response": []}
    )
    persist: bool | None = None
    allbackups: bool | None = None
    log_health_checks: bool | None = None
    check_timeout_set: bool = False
    check_timeout: float | None = None
    cookie: CookiePersistence | None = None
    httpchk_set: bool = False
    httpchk: HttpCheck | None = None
    httpchk_origin: Origin | None = None
    httpchk_modern: str | None = None  # the 'http-check send' for a deprecated httpchk form
    http_check_send: tuple[HttpCheckSend, Origin] | None = None
    http_check_expect: tuple[HttpCheckExpect, Origin] | None = None
    server_defaults: ServerDefaults = field(default_factory=ServerDefaults)
    stick_table: tuple[StickTable, Origin] | None = None
    appsession: tuple[AppSession, Origin] | None = None
    stick_lines: list[tuple[str, list[str], Origin]] = field(default_factory=list)
    redirect_lines: list[tuple[list[str], Origin]] = field(default_factory=list)
    # [global]
    node: str = ""
    state_dir: str | None = None
    dh_param: int | None = None
    limits: dict[str, int] = field(default_factory=dict)
    spread_checks: int | None = None
    stats_sockets: list[StatsSocket] = field(default_factory=list)
    localpeer: str = ""
    workers: int | None = None
    hard_stop_after: float | None = None
    # stats page lines: directive -> (words, origin, value as written)
    stats: dict[str, tuple[list[str], Origin, str | None]] = field(default_factory=dict)
    stats_auth: list[tuple[str, str, Origin]] = field(default_factory=list)
    # [demo NAME]
    app: str | None = None
    demo_bind: tuple[Endpoint, Origin] | None = None
    demo_keys: set[str] = field(default_factory=set)


@dataclass
class _Built:
    """A proxy section turned into model objects, kept with its draft for cross-checks."""

    draft: _Draft
    frontend: Frontend | None = None
    backend: Backend | None = None
    acls: dict[str, tuple[Acl, ...]] = field(default_factory=dict)
    conditions: list[Condition] = field(default_factory=list)


class _Loader:
    def __init__(self, path: str, problems: Problems) -> None:
        self.path = path
        self.base_dir = os.path.dirname(path)
        self.problems = problems
        self.global_logs: list[LogTarget] = []
        self.bufsize = Limits().max_header_bytes

    # --- the whole file -------------------------------------------------------------------------

    def run(self) -> StackConfig | None:
        text = self._read_text()
        if text is None:
            return None
        sections = ini.read(self.path, text, self.problems)
        if sections is None:
            return None
        classified = self._classify(sections)
        globals_ = [s for kind, _name, s in classified if kind == dirs.GLOBAL]
        global_draft = self._section(dirs.GLOBAL, "", globals_[0]) if globals_ else None
        global_ = self._global(global_draft)
        defaults = [s for kind, _name, s in classified if kind == dirs.DEFAULTS]
        if defaults:
            defaults_draft = self._section(dirs.DEFAULTS, "", defaults[0])
            self._check_modes(defaults_draft)
        else:
            defaults_draft = _Draft(dirs.DEFAULTS, "", "defaults", 0)
        built: list[_Built] = []
        demos: list[tuple[DemoServer, Origin]] = []
        edges: list[EdgeDraft] = []
        vrrp_instances: list[InstanceDraft] = []
        vrrp_scripts: list[ScriptDraft] = []
        peers: list[PeersDraft] = []
        edge_defaults = _timeouts(defaults_draft.timeouts)
        for kind, name, section in classified:
            if kind in dirs.PROXY_KINDS:
                draft = self._section(kind, name, section, defaults_draft)
                built.append(self._build_proxy(draft, defaults_draft))
            elif kind == dirs.DEMO:
                demo = self._demo(self._section(kind, name, section))
                if demo is not None:
                    demos.append(demo)
            elif kind == dirs.EDGE:
                edges.append(
                    read_edge(
                        name,
                        section,
                        self.path,
                        self.problems,
                        self._single,
                        edge_defaults,
                        global_.state_dir,
                    )
                )
            elif kind == dirs.VRRP_INSTANCE:
                vrrp_instances.append(read_vrrp_instance(name, section, self.path, self.problems))
            elif kind == dirs.VRRP_SCRIPT:
                vrrp_scripts.append(read_vrrp_script(name, section, self.path, self.problems))
            elif kind == dirs.PEERS:
                peers.append(read_peers(name, section, self.path, self.problems))
        peers_sections = resolve_peers(peers, global_.localpeer, self.problems)
        self._cross_check(built, demos, edges)
        self._check_peers(built, peers, peers_sections)
        frontends = tuple(b.frontend for b in built if b.frontend is not None)
        # the tiers a vrrp_script's 'check' may name: those this file describes
        tiers = (*(["edge"] if edges else []), *(["balancer"] if frontends else []))
        instances, scripts = resolve(vrrp_instances, vrrp_scripts, tiers, self.problems)
        if not (built or demos or edges or vrrp_instances) and not self.problems:
            self.problems.add(
                "nothing to run: no [edge], [frontend], [listen], [demo] or [vrrp_instance] section"
            )
        return StackConfig(
            path=self.path,
            global_=global_,
            frontends=frontends,
            backends=tuple(b.backend for b in built if b.backend is not None),
            demos=tuple(d for d, _origin in demos),
            edges=tuple(_resolve_proxy_pass(e.edge, frontends) for e in edges if e.edge),
            vrrp_instances=instances,
            vrrp_scripts=scripts,
            peers=tuple(peers_sections),
        )

    def _read_text(self) -> str | None:
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError as exc:
            self.problems.add(f"cannot read the configuration file: {exc.strerror or exc}")
            return None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            self.problems.add("the file is not valid UTF-8 text", line=line)
            return None
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def _classify(self, sections: list[ini.Section]) -> list[tuple[str, str, ini.Section]]:
        """Check every section header; return the usable sections as (kind, name, section)."""
        result = []
        seen: set[str] = set()
        for section in sections:
            header = section.header
            if header in seen:
                continue  # the duplicate was reported by the scanner
            seen.add(header)
            if section.trailing:
                self.problems.add(
                    f"unexpected {section.trailing!r} after the section header",
                    line=section.line,
                    section=header,
                )
            words = header.split()
            message = self._header_problem(words)
            if message is not None:
                self.problems.add(message, line=section.line, section=header)
                continue
            result.append((words[0], words[1] if len(words) > 1 else "", section))
        return result

    def _header_problem(self, words: list[str]) -> str | None:
        if not words:
            return "empty section header"
        kind = words[0]
        if kind in (dirs.GLOBAL, dirs.DEFAULTS):
            if len(words) > 1:
                if kind == dirs.DEFAULTS:
                    return "named defaults sections are not supported: write [defaults]"
                return "[global] takes no name"
            return None
        if kind in (
            *dirs.PROXY_KINDS,
            dirs.DEMO,
            dirs.EDGE,
            dirs.VRRP_INSTANCE,
            dirs.VRRP_SCRIPT,
            dirs.PEERS,
        ):
            if len(words) == 1:
                return f"a {kind} section needs a name: [{kind} NAME]"
            if len(words) > 2:
                rest = " ".join(words[2:])
                if kind in (dirs.FRONTEND, dirs.LISTEN):
                    return (
                        f"the address goes in a key: write [{kind} {words[1]}] and 'bind = {rest}'"
                    )
                return f"a section name is one word: [{kind} {words[1]}]"
            try:
                check_name(words[1], kind)
            except Invalid as exc:
                return str(exc)
            return None
        if kind in dirs.SECTIONS_NOT_YET:
            return f"section type '{kind}' is not supported yet"
        if kind in dirs.SECTIONS_UNSUPPORTED:
            return f"section type '{kind}' is not supported by stack"
        if kind in dirs.KEEPALIVED_SECTIONS:
            return f"keepalived's {kind} {dirs.KEEPALIVED_SECTIONS[kind]}"
        close = difflib.get_close_matches(kind.lower(), dirs.SECTION_KINDS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return (
            f"unknown section type '{kind}' (use global, defaults, edge, frontend, backend, "
            f"listen, peers, demo, vrrp_instance or vrrp_script){hint}"
        )

    # --- one section: keys to draft -------------------------------------------------------------

    def _section(
        self, kind: str, name: str, section: ini.Section, defaults: _Draft | None = None
    ) -> _Draft:
        draft = _Draft(kind, name, section.header, section.line)
        if defaults is not None:  # default-server lines of [defaults] come first
            draft.server_defaults = defaults.server_defaults
        seen: set[str] = set()
        for entry in section.entries:
            if entry.key in seen:
                continue  # reported by the scanner
            seen.add(entry.key)
            if kind == dirs.DEMO:
                self._demo_key(draft, entry)
                continue
            resolved = self._resolve(kind, section.header, entry)
            if resolved is not None:
                spec, item_name = resolved
                self._apply(draft, spec, item_name, entry)
        return draft

    def _origin(self, section: str, key: str, line: int) -> Origin:
        return Origin(self.path, line, section, key)

    def _problem(self, section: str, key: str, line: int, message: str) -> None:
        self.problems.add(message, line=line, section=section, key=key)

    def _resolve(
        self, kind: str, header: str, entry: ini.Entry
    ) -> tuple[Directive, str | None] | None:
        """Find the directive a key names; report keys that are wrong or misplaced."""
        key = entry.key
        words = key.split()
        first = words[0]

        def report(message: str) -> None:
            self._problem(header, key, entry.line, message)

        if first.startswith("["):
            report("this looks like a section header without its closing ']'")
            return None
        if first in dirs.LEGACY:
            report(dirs.LEGACY[first])
            return None
        if kind == dirs.GLOBAL and first in dirs.TWISTD:
            report(dirs.TWISTD[first])
            return None
        two = " ".join(words[:2])
        if two in dirs.DIRECTIVES:
            spec = dirs.DIRECTIVES[two]
        elif first in dirs.DIRECTIVES:
            spec = dirs.DIRECTIVES[first]
        else:
            report(self._unknown_key_message(kind, header, key, words, entry))
            return None
        if kind not in spec.sections:
            where = ", ".join(k for k in dirs.SECTION_KINDS if k in spec.sections)
            report(f"'{spec.name}' is not allowed in a {kind} section (only in: {where})")
            return None
        rest = words[len(spec.name.split()) :]
        item_name = None
        if spec.named is not None:
            if not rest:
                report(f"'{spec.name}' needs a {spec.named} in the key: '{spec.name} NAME = ...'")
                return None
            item_name, rest = rest[0], rest[1:]
        if rest:
            directive = spec.name + (f" {item_name}" if item_name else "")
            if spec.name in _NAME_FIRST and entry.value is not None:
                what = _NAME_FIRST[spec.name]
                value = " ".join([*rest, entry.value]).strip()
                report(
                    f"the {what} name is the first word of the value: write '{spec.name} = {value}'"
                )
                return None
            if entry.value is None:
                report(
                    f"missing '=': write '{directive} = {' '.join(rest)}' "
                    "(the key is the directive, the value the rest of the HAProxy line)"
                )
            else:
                report(f"unexpected {' '.join(rest)!r} in the key (did you mean '{directive}'?)")
            return None
        return spec, item_name

    def _unknown_key_message(
        self, kind: str, header: str, key: str, words: list[str], entry: ini.Entry
    ) -> str:
        first, two = words[0], " ".join(words[:2])
        if first == "stick":
            hint = (
                " (HAProxy's 'stick store' is 'stick store-request')"
                if two == "stick store"
                else ""
            )
            return (
                "'stick' is followed by 'on', 'match', 'store-request' or 'store-response' in "
                f"the key, as in 'stick on = req.cook(JSESSIONID)'{hint}"
            )
        if first == "peers":
            return (
                "'peers' is an option of the stick-table line ('stick-table = type ip size 1m "
                "peers NAME'), with the nodes in a [peers NAME] section"
            )
        for candidate in (two, first):
            if candidate in dirs.NOT_YET:
                shown = two if first in ("stats", "http-check") else candidate
                return f"'{shown}' is not supported yet"
            if candidate in dirs.UNSUPPORTED:
                return dirs.unsupported_message(candidate)
        if first.startswith("ssl-") or first.startswith("tune.ssl."):
            return f"'{first}' is not supported yet (TLS settings come with the edge)"
        if first == "no" and len(words) > 1:
            rest = " ".join(words[1:])
            return f"HAProxy's 'no {rest}' is written '{rest} = off'"
        # every directive, not only this section's: "timout connect" in a frontend is
        # 'timeout connect', which the next check then reports as misplaced
        best, best_ratio = "", 0.0
        for probe in (two, first):
            for choice in dirs.DIRECTIVES:
                ratio = difflib.SequenceMatcher(None, probe, choice).ratio()
                if ratio > best_ratio:
                    best, best_ratio = choice, ratio
        hint = f"; did you mean '{best}'?" if best_ratio >= 0.6 else ""
        if entry.indented and not hint:
            hint = (
                " (an indented line continues the value above it only when no blank or "
                "comment line comes in between)"
            )
        return f"unknown key '{key}' in [{header}]{hint}"

    def _single(self, header: str, entry: ini.Entry) -> tuple[int, str | None] | None:
        """The one value of a directive that does not repeat, with its line."""
        lines = entry.occurrences()
        if entry.value is None:
            return entry.line, None
        if len(lines) > 1:
            self._problem(
                header,
                entry.key,
                lines[1][0],
                f"'{entry.key}' takes a single value"
                + ("" if header.startswith("demo ") else _REPEATABLE_HINT)
                + " (unindent this line if it is a new key)",
            )
            return None
        if not lines:
            return entry.line, ""
        return lines[0]

    def _words(self, header: str, key: str, line: int, text: str) -> list[str] | None:
        try:
            return split_words(text)
        except WordError as exc:
            self._problem(header, key, line, str(exc))
            return None

    def _apply(
        self, draft: _Draft, spec: Directive, item_name: str | None, entry: ini.Entry
    ) -> None:
        """Record one key in ``draft``; report its problems."""
        header, key = draft.header, entry.key
        if spec.name == "use_backend" and not entry.occurrences():
            # "use_backend NAME" with no condition always applies, as in HAProxy
            self._guard(draft, spec, item_name, key, entry.line, "", [], entry.value)
            return
        if spec.multi:
            if entry.value is None or not entry.occurrences():
                self._problem(header, key, entry.line, f"'{spec.name}' needs a value")
                return
            for line, text in entry.occurrences():
                words = self._words(header, key, line, text)
                if words is not None:
                    self._guard(draft, spec, item_name, key, line, text, words, None)
            return
        single = self._single(header, entry)
        if single is None:
            return
        line, value = single
        if value is None:  # a bare "option redispatch" line, written without "="
            if not spec.switch and spec.name not in (
                "option forwardfor",
                "option httpchk",
                "stats show-node",
            ):
                self._problem(header, key, line, f"'{spec.name}' needs a value: '{key} = ...'")
                return
            self._guard(draft, spec, item_name, key, line, "", [], None)
            return
        words = self._words(header, key, line, value)
        if words is not None:
            self._guard(draft, spec, item_name, key, line, value, words, value)

    def _guard(
        self,
        draft: _Draft,
        spec: Directive,
        item_name: str | None,
        key: str,
        line: int,
        text: str,
        words: list[str],
        value: str | None,
    ) -> None:
        """Run a directive's handler; turn its :class:`Invalid` into a located problem."""
        origin = self._origin(draft.header, key, line)
        try:
            self._handle(draft, spec, item_name, origin, text, words, value)
        except Invalid as exc:
            message = str(exc)
            if spec.multi and looks_like_key(text):
                message += (
                    " (this indented line continues the value above; unindent it if it is a "
                    "new key)"
                )
            self.problems.at(origin, message)

    def _handle(
        self,
        draft: _Draft,
        spec: Directive,
        item_name: str | None,
        origin: Origin,
        text: str,
        words: list[str],
        value: str | None,
    ) -> None:
        name = spec.name
        if name in dirs.STATS_PAGE:
            self._stats_line(draft, name, words, origin, value)
        elif spec.switch:
            on = parse_switch(value)
            if name in _SWITCHES:
                setattr(draft, _SWITCHES[name], on)
            else:
                draft.modes[_MODES[name]] = (on, origin)
        elif name in _TIMEOUT_FIELDS:
            seconds = parse_duration(_one(words, name))
            draft.timeouts[_TIMEOUT_FIELDS[name]] = seconds or None  # 0: no timeout (HAProxy)
        elif name == "timeout check":
            draft.check_timeout_set = True
            draft.check_timeout = parse_duration(_one(words, name)) or None
        elif name == "option httpchk":
            draft.httpchk_set = True
            draft.httpchk, draft.httpchk_modern = parse_httpchk(value, words)
            draft.httpchk_origin = origin
        elif name == "http-check send":
            draft.http_check_send = (parse_http_check_send(words), origin)
        elif name == "http-check expect":
            draft.http_check_expect = (parse_http_check_expect(words), origin)
        elif name == "cookie":
            draft.cookie = parse_cookie(words, origin)
        elif name == "default-server":
            draft.server_defaults = parse_default_server(words, draft.server_defaults)
        elif name == "stick-table":
            draft.stick_table = (parse_stick_table(words), origin)
        elif name == "appsession":
            draft.appsession = (parse_appsession(words), origin)
        elif name.startswith("stick "):
            draft.stick_lines.append((name.split()[1], words, origin))
        elif name == "redirect":
            draft.redirect_lines.append((words, origin))
        elif name == "spread-checks":
            draft.spread_checks = parse_int(_one(words, name), "spread-checks", 0, 50)
        elif name == "option forwardfor":
            draft.forwardfor_set = True
            draft.forwardfor = parse_forwardfor(value, words)
        elif name == "maxconn":
            low = 1 if draft.kind == dirs.GLOBAL else 0
            draft.maxconn = parse_int(_one(words, name), "maxconn", low)
        elif name == "log":
            self._log(draft, words, origin)
        elif name == "node":
            draft.node = _one(words, name)
        elif name == "state-dir":
            path = _one(words, name)
            draft.state_dir = path if os.path.isabs(path) else os.path.join(self.base_dir, path)
        elif name == "stats socket":
            draft.stats_sockets.append(self._stats_socket(draft.stats_sockets, words, origin))
        elif name == "localpeer":
            draft.localpeer = _one(words, name)
            check_name(draft.localpeer, "peer")
        elif name == "workers":
            draft.workers = parse_int(_one(words, name), "workers", 1, MAX_WORKERS)
        elif name == "hard-stop-after":
            draft.hard_stop_after = parse_duration(_one(words, name))
        elif name == "tune.ssl.default-dh-param":
            draft.dh_param = parse_int(_one(words, name), name, 1024, 16384)
        elif name.startswith("tune."):
            draft.limits[name] = _tune(name, _one(words, name))
        elif name == "mode":
            _mode(_one(words, name))
        elif name == "retries":
            draft.retries = parse_int(_one(words, name), "retries", 0)
        elif name == "balance":
            draft.balance = parse_balance(words)
        elif name == "errorfile":
            assert item_name is not None
            errorfile = self._errorfile(item_name, words)
            draft.errorfiles[errorfile.status] = errorfile
        elif name == "bind":
            for endpoint in parse_bind(words):
                draft.binds.append((endpoint, origin))
        elif name == "acl":
            assert item_name is not None
            draft.acl_names[item_name] = None
            check_name(item_name, "ACL")
            if item_name.lower() == "or":
                raise Invalid("'or' cannot name an ACL: it separates groups in conditions")
            draft.acl_lines.append((item_name, words, origin))
        elif name == "use_backend":
            assert item_name is not None
            if "%[" in item_name:
                raise Invalid("dynamic backend names (%[...]) are not supported yet")
            draft.use_backends.append((item_name, words, origin))
        elif name == "default_backend":
            draft.default_backend = (_one(words, name), origin)
        elif name == "server":
            assert item_name is not None
            check_name(item_name, "server")
            server = parse_server(item_name, words, origin, draft.server_defaults)
            draft.servers.append(self._server_files(server))
        elif name in ("http-request", "http-response"):
            draft.rules[name].append((words, origin))
        else:  # pragma: no cover - every table entry has a branch above
            raise AssertionError(name)

    def _log(self, draft: _Draft, words: list[str], origin: Origin) -> None:
        if draft.logs is None:
            draft.logs = []
        if words == ["global"]:
            if draft.kind == dirs.GLOBAL:
                raise Invalid("'log global' is for proxy sections; here give a target")
            draft.logs.extend(self.global_logs)
            return
        target = parse_log_target(words, origin)
        draft.logs.append(target)
        if draft.kind == dirs.GLOBAL:
            self.global_logs.append(target)

    def _stats_socket(
        self, declared: list[StatsSocket], words: list[str], origin: Origin
    ) -> StatsSocket:
        """``stats socket PATH [mode OCTAL] [level user|operator|admin] [expose-fd listeners]``
        (src/cli.c ``cli_parse_global``), a unix socket only; a relative PATH is relative to
        the config file."""
        if not words:
            raise Invalid("'stats socket' expects a path to a UNIX socket")
        path = _stats_socket_path(words[0])
        full = os.path.normpath(path if os.path.isabs(path) else os.path.join(self.base_dir, path))
        size = len(os.fsencode(full))
        if size > _SUN_PATH_MAX:
            raise Invalid(
                f"the socket path {full!r} is {size} bytes long; a unix socket path has at most "
                f"{_SUN_PATH_MAX}"
            )
        for other in declared:
            if other.path == full:
                line = f" (line {other.origin.line})" if other.origin else ""
                raise Invalid(f"'{full}' is already a stats socket{line}")
        # src/cli.c: "bind_conf->level |= ACCESS_LVL_OPER; /* default access level */" -
        # a stats socket without 'level' is an operator socket (HAProxy 2.6 'show cli level'
        # answers "operator" there), not admin
        mode: int | None = None
        level = "operator"
        rest = words[1:]
        while rest:
            option = rest.pop(0)
            if option in ("mode", "level", "expose-fd"):
                if not rest:
                    wanted = {
                        "mode": "an octal mode",
                        "level": "a level",
                        "expose-fd": "'listeners'",
                    }
                    raise Invalid(f"'{option}' on 'stats socket' expects {wanted[option]}")
                value = rest.pop(0)
                if option == "mode":
                    if not re.fullmatch(r"[0-7]{1,4}", value):
                        raise Invalid(
                            f"'mode' expects an octal file mode such as 660, not {value!r}"
                        )
                    mode = int(value, 8)
                elif option == "level":
                    if value not in ("user", "operator", "admin"):
                        raise Invalid(
                            f"'level' only supports 'user', 'operator', and 'admin' (got '{value}')"
                        )
                    level = value
                elif value != "listeners":  # expose-fd: accepted, without effect (see docs)
                    raise Invalid(f"'expose-fd' only supports 'listeners' (got '{value}')")
            elif option in _STATS_SOCKET_NOT_YET:
                hint = _STATS_SOCKET_NOT_YET[option]
                raise Invalid(f"'{option}' on 'stats socket' is not supported yet{hint}")
            else:
                close = difflib.get_close_matches(option, ("mode", "level", "expose-fd"), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise Invalid(
                    f"unknown 'stats socket' option '{option}' (stack supports mode, level and "
                    f"expose-fd listeners){hint}"
                )
        return StatsSocket(full, mode, level, origin)

    def _server_files(self, server: Server) -> Server:
        """Check that a TLS server's CA file and certificate can be read; relative paths are
        relative to the configuration file's directory, as for errorfile."""
        tls = server.tls
        if tls is None:
            return server
        paths = {}
        for keyword, path in (("ca-file", tls.ca_file), ("crt", tls.crt)):
            if path is None or (path == "@system-ca" and keyword == "ca-file"):
                continue
            full = path if os.path.isabs(path) else os.path.join(self.base_dir, path)
            if not os.access(full, os.R_OK):
                reason = "No such file or directory" if not os.path.exists(full) else "unreadable"
                raise Invalid(f"{keyword}: cannot read {full!r}: {reason}")
            paths[keyword.replace("-", "_")] = full
        tls = replace(tls, ca_file=paths.get("ca_file", tls.ca_file), crt=paths.get("crt", tls.crt))
        return replace(server, tls=tls)

    def _errorfile(self, code_text: str, words: list[str]) -> ErrorFile:
        code = parse_int(code_text, "the errorfile status code", 100, 599)
        if code not in ERRORFILE_CODES:
            codes = ", ".join(str(c) for c in ERRORFILE_CODES)
            raise Invalid(f"errorfile {code} is not an error stack generates (use {codes})")
        path = _one(words, "errorfile")
        full = path if os.path.isabs(path) else os.path.join(self.base_dir, path)
        try:
            with open(full, "rb") as f:
                data = f.read(self.bufsize + 1)
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
            reason = getattr(exc, "strerror", None) or exc
            raise Invalid(f"cannot read {full!r}: {reason}") from None
        if data:
            if not data.startswith(b"HTTP/1."):
                raise Invalid(
                    f"{full!r} is not a raw HTTP response: it must start with a status line "
                    "such as 'HTTP/1.1 503 Service Unavailable'"
                )
            if b"\r\n\r\n" not in data and b"\n\n" not in data:
                raise Invalid(f"{full!r} has no empty line after its headers")
            if len(data) > self.bufsize:
                raise Invalid(f"{full!r} is larger than tune.bufsize ({self.bufsize} bytes)")
        return ErrorFile(code, full, data)

    def _demo_key(self, draft: _Draft, entry: ini.Entry) -> None:
        header, key = draft.header, entry.key
        if key not in dirs.DEMO_KEYS:
            hint = suggest(key, list(dirs.DEMO_KEYS))
            self._problem(header, key, entry.line, f"unknown key '{key}' in [{header}]{hint}")
            return
        draft.demo_keys.add(key)
        single = self._single(header, entry)
        if single is None:
            return
        line, value = single
        origin = self._origin(header, key, line)
        try:
            words = split_words(value or "")
            if key == "app":
                app = _one(words, "app")
                if app not in dirs.DEMO_APPS:
                    raise Invalid(f"unknown demo app {app!r} (use site or films)")
                draft.app = app
            else:
                draft.demo_bind = (parse_endpoint(_one(words, "bind"), wildcard=True), origin)
        except (Invalid, WordError) as exc:
            self.problems.at(origin, str(exc))

    # --- sections to model objects --------------------------------------------------------------

    def _global(self, draft: _Draft | None) -> Global:
        if draft is None:
            return Global()
        defaults = Limits()
        limits = Limits(
            max_request_line=draft.limits.get("tune.http.uri-max", defaults.max_request_line),
            max_header_bytes=draft.limits.get("tune.bufsize", defaults.max_header_bytes),
            max_headers=draft.limits.get("tune.http.maxhdr", defaults.max_headers),
        )
        self.bufsize = limits.max_header_bytes
        return Global(
            maxconn=draft.maxconn if draft.maxconn is not None else Global().maxconn,
            logs=tuple(draft.logs or ()),
            node=draft.node,
            spread_checks=draft.spread_checks or 0,
            limits=limits,
            state_dir=draft.state_dir or Global().state_dir,
            dh_param=draft.dh_param or Global().dh_param,
            stats_sockets=tuple(draft.stats_sockets),
            localpeer=draft.localpeer,
            workers=draft.workers or 1,
            hard_stop_after=(
                HARD_STOP_AFTER if draft.hard_stop_after is None else draft.hard_stop_after
            ),
        )

    def _demo(self, draft: _Draft) -> tuple[DemoServer, Origin] | None:
        missing = [k for k in dirs.DEMO_KEYS if k not in draft.demo_keys]
        for key in missing:
            self._problem(draft.header, key, draft.line, f"missing: a demo needs '{key} = ...'")
        if draft.app is None or draft.demo_bind is None:
            return None
        endpoint, origin = draft.demo_bind
        return DemoServer(draft.name, draft.app, endpoint, origin), origin

    def _check_modes(self, draft: _Draft) -> None:
        enabled = [(mode, origin) for mode, (on, origin) in draft.modes.items() if on]
        if len(enabled) > 1:
            enabled.sort(key=lambda item: item[1].line)
            first_mode, first_origin = enabled[0]
            for mode, origin in enabled[1:]:
                self.problems.at(
                    origin,
                    f"'option {mode.value}' conflicts with 'option {first_mode.value}' "
                    f"(line {first_origin.line}): choose one",
                )

    def _build_proxy(self, draft: _Draft, defaults: _Draft) -> _Built:
        self._check_modes(draft)
        built = _Built(draft)
        built.acls = self._acls(draft)
        lookup = self._lookup(built.acls)
        timeouts = _timeouts({**defaults.timeouts, **draft.timeouts})
        forwardfor = draft.forwardfor if draft.forwardfor_set else defaults.forwardfor
        mode = _connection_mode(draft, _connection_mode(defaults, ConnectionMode.KEEP_ALIVE))
        errorfiles = tuple(
            f for _code, f in sorted({**defaults.errorfiles, **draft.errorfiles}.items())
        )
        logs = tuple(draft.logs if draft.logs is not None else (defaults.logs or ()))
        acls = tuple(acl for group in built.acls.values() for acl in group)
        rules = {
            directive: tuple(self._rules(built, directive, lookup))
            for directive in ("http-request", "http-response")
        }
        redirects = tuple(self._redirects(built, lookup))
        stats = self._stats_page(built, lookup)
        origin = self._origin(draft.header, "", draft.line)
        if draft.kind in (dirs.FRONTEND, dirs.LISTEN):
            if not draft.binds:
                self.problems.add(
                    f"no 'bind': a {draft.kind} needs at least one address to listen on "
                    "(bind = host:port)",
                    line=draft.line,
                    section=draft.header,
                )
            default_backend = draft.default_backend[0] if draft.default_backend else None
            if default_backend is None and draft.kind == dirs.LISTEN:
                default_backend = draft.name
            listen = draft.kind == dirs.LISTEN
            built.frontend = Frontend(
                name=draft.name,
                binds=tuple(endpoint for endpoint, _origin in draft.binds),
                default_backend=default_backend,
                use_backends=tuple(self._use_backends(built, lookup)),
                acls=acls,
                maxconn=_first(draft.maxconn, defaults.maxconn, 0),
                timeouts=timeouts,
                forwardfor=forwardfor,
                connection_mode=mode,
                # a listen runs its rules once, as the backend half (see docs/config.md)
                http_request=() if listen else rules["http-request"],
                http_response=() if listen else rules["http-response"],
                errorfiles=errorfiles,
                httplog=_first(draft.httplog, defaults.httplog, False),
                dontlognull=_first(draft.dontlognull, defaults.dontlognull, False),
                logs=logs,
                origin=origin,
                redirects=() if listen else redirects,
                stats=stats,
            )
        if draft.kind in (dirs.BACKEND, dirs.LISTEN):
            notices: list[str] = []
            stick_table, stick_rules = self._stick(built, lookup, notices)
            check_timeout = (draft if draft.check_timeout_set else defaults).check_timeout
            built.backend = Backend(
                name=draft.name,
                servers=tuple(draft.servers),
                balance=_first(draft.balance, defaults.balance, Balance()),
                timeouts=timeouts,
                retries=_first(draft.retries, defaults.retries, 3),
                redispatch=_first(draft.redispatch, defaults.redispatch, False),
                forwardfor=forwardfor,
                connection_mode=mode,
                http_request=rules["http-request"],
                http_response=rules["http-response"],
                errorfiles=errorfiles,
                acls=acls,
                origin=origin,
                logs=logs,
                cookie=draft.cookie or defaults.cookie,
                persist=_first(draft.persist, defaults.persist, False),
                allbackups=_first(draft.allbackups, defaults.allbackups, False),
                httpchk=self._httpchk(draft, defaults, notices),
                log_health_checks=_first(
                    draft.log_health_checks, defaults.log_health_checks, False
                ),
                check_timeout=check_timeout,
                stick_table=stick_table,
                stick_rules=stick_rules,
                redirects=redirects,
                notices=tuple(notices),
                # a listen's page is its frontend's: every request that arrives may ask for it
                stats=None if draft.kind == dirs.LISTEN else stats,
            )
        return built

    def _stats_line(
        self, draft: _Draft, name: str, words: list[str], origin: Origin, value: str | None
    ) -> None:
        """One ``stats`` line of a proxy, checked now; :meth:`_stats_page` assembles them."""
        if name == "stats auth":
            user, sep, password = (words[0] if len(words) == 1 else "").partition(":")
            if len(words) != 1 or not sep or not user:
                raise Invalid(
                    "'stats auth' expects USER:PASSWORD (escape spaces with '\\ ' or quote it)"
                )
            for known, _pw, at in draft.stats_auth:
                if known == user:
                    raise Invalid(f"user '{user}' already has a password (line {at.line})")
            draft.stats_auth.append((user, password, origin))
            return
        if name in ("stats enable", "stats hide-version", "stats show-legends"):
            parse_switch(value)
        elif name == "stats uri":
            uri = _one(words, name)
            if not uri.startswith("/"):
                raise Invalid(f"'stats uri' is a path prefix starting with '/', not {uri!r}")
        elif name == "stats realm":
            if len(words) != 1:
                raise Invalid(
                    "'stats realm' is one word: escape its spaces ('HAProxy\\ Statistics') or "
                    "quote it"
                )
            if '"' in words[0]:
                raise Invalid("'stats realm' cannot contain a double quote")
        elif name == "stats refresh":
            if parse_duration(_one(words, name)) <= 0:
                raise Invalid("'stats refresh' needs a period above 0, such as 10s")
        elif name == "stats admin":
            if not words or words[0] not in ("if", "unless"):
                raise Invalid(
                    "'stats admin' takes a condition: 'stats admin = if LOCALHOST' (or 'if TRUE' "
                    "to let every authenticated user act)"
                )
        elif name == "stats show-node" and len(words) > 1:
            raise Invalid("'stats show-node' takes at most one name")
        draft.stats[name] = (words, origin, value)

    def _stats_page(
        self, built: _Built, lookup: Callable[[str], tuple[Acl, ...] | None]
    ) -> StatsPage | None:
        """The proxy's statistics page: any ``stats`` line but ``stats enable = off`` turns
        it on, as in HAProxy (``stats uri`` alone enables it)."""
        draft = built.draft
        lines = draft.stats
        if not lines and not draft.stats_auth:
            return None
        enable = lines.get("stats enable")
        if enable is not None and not parse_switch(enable[2]) and len(lines) == 1:
            return None
        page = StatsPage()
        admin: Condition | None = None
        if "stats admin" in lines:
            words, origin, _value = lines["stats admin"]
            try:
                admin = self._condition(built, words, lookup, origin)
            except Invalid as exc:
                self.problems.at(origin, str(exc))
        node = lines.get("stats show-node")
        return StatsPage(
            uri=lines["stats uri"][0][0] if "stats uri" in lines else page.uri,
            realm=lines["stats realm"][0][0] if "stats realm" in lines else page.realm,
            users=tuple((user, password) for user, password, _o in draft.stats_auth),
            refresh=(
                parse_duration(lines["stats refresh"][0][0]) if "stats refresh" in lines else None
            ),
            admin=admin,
            hide_version="stats hide-version" in lines
            and parse_switch(lines["stats hide-version"][2]),
            show_node=(node[0][0] if node[0] else "") if node is not None else None,
            show_legends="stats show-legends" in lines
            and parse_switch(lines["stats show-legends"][2]),
            origin=self._origin(draft.header, "", draft.line),
        )

    def _check_peers(
        self, built: list[_Built], drafts: list[PeersDraft], sections: list[PeersSection]
    ) -> None:
        """Every ``stick-table ... peers NAME`` names a ``[peers NAME]`` section."""
        names = [d.name for d in drafts]
        for item in built:
            table = item.draft.stick_table
            if table is None or table[0].peers is None or table[0].peers in names:
                continue
            self.problems.at(
                table[1],
                f"'peers {table[0].peers}': no [peers {table[0].peers}] section"
                + suggest(table[0].peers, names),
            )
        ports: dict[tuple[str, int], str] = {}
        for section in sections:
            local = section.local_peer.address
            key = (local.host, local.port)
            if key in ports:
                self.problems.add(
                    f"the local peer listens on {local}, as in [peers {ports[key]}]: give each "
                    "section its own port",
                    line=section.origin.line if section.origin else 0,
                    section=f"peers {section.name}",
                )
            ports[key] = section.name

    def _httpchk(self, draft: _Draft, defaults: _Draft, notices: list[str]) -> HttpCheck | None:
        """``option httpchk`` with the ``http-check`` lines merged in; each of the three comes
        from the section, else from [defaults]."""
        source = draft if draft.httpchk_set else defaults
        send = draft.http_check_send or defaults.http_check_send
        expect = draft.http_check_expect or defaults.http_check_expect
        if source.httpchk is None:
            for own in (draft.http_check_send, draft.http_check_expect):
                if own is not None:
                    self.problems.at(
                        own[1],
                        f"'{own[1].key}' has no effect without 'option httpchk' (in this "
                        "section or in [defaults]): the checks are plain connections",
                    )
            return None
        if source.httpchk_modern is not None and source.httpchk_origin is not None:
            notices.append(
                f"{source.httpchk_origin}: headers written after the version are deprecated "
                "since HAProxy 2.2, which warns about them; stack sends them as written. The "
                f"current form is 'http-check send = {source.httpchk_modern}'."
            )
        return merge_http_check(
            source.httpchk,
            send[0] if send else None,
            expect[0] if expect else None,
        )

    def _stick(
        self,
        built: _Built,
        lookup: Callable[[str], tuple[Acl, ...] | None],
        notices: list[str],
    ) -> tuple[StickTable | None, tuple[StickRule, ...]]:
        """The backend's stick table and rules, ``appsession`` included (as its stick-table
        equivalent, with a notice)."""
        draft = built.draft
        table = draft.stick_table[0] if draft.stick_table else None
        rules: list[StickRule] = []
        if draft.appsession is not None:
            appsession, origin = draft.appsession
            if draft.stick_table is not None:
                self.problems.at(
                    origin,
                    "this backend already has a stick-table (line "
                    f"{draft.stick_table[1].line}): appsession would be a second one; keep one",
                )
            else:
                table = appsession.table
                rules.extend(_appsession_rules(appsession, origin))
                notices.append(_appsession_notice(appsession, origin))
        for kind, words, origin in draft.stick_lines:

            def condition(cond_words: list[str], origin: Origin = origin) -> Condition:
                return self._condition(built, cond_words, lookup, origin)

            try:
                rules.append(parse_stick_rule(kind, words, condition, origin))
            except Invalid as exc:
                self.problems.at(origin, str(exc))
        rules.sort(key=lambda rule: rule.origin.line)
        return table, tuple(rules)

    def _redirects(
        self, built: _Built, lookup: Callable[[str], tuple[Acl, ...] | None]
    ) -> list[Redirect]:
        """``http-request redirect`` rules, then ``redirect`` ones: HAProxy evaluates the
        http-request rules first, then the redirect rules, each in file order."""
        request = [
            (words[1:], origin, True)
            for words, origin in built.draft.rules["http-request"]
            if words and words[0] == "redirect"
        ]
        plain = [(words, origin, False) for words, origin in built.draft.redirect_lines]
        redirects = []
        for words, origin, fmt in request + plain:

            def condition(cond_words: list[str], origin: Origin = origin) -> Condition:
                return self._condition(built, cond_words, lookup, origin)

            try:
                redirects.append(parse_redirect(words, condition, origin, logformat=fmt))
            except Invalid as exc:
                self.problems.at(origin, str(exc))
        return redirects

    def _acls(self, draft: _Draft) -> dict[str, tuple[Acl, ...]]:
        """The named ACLs of a section: lines sharing a name are ORed, as in HAProxy."""
        acls: dict[str, list[Acl]] = {name: [] for name in draft.acl_names}
        for name, words, origin in draft.acl_lines:
            try:
                acls[name].append(parse_acl(name, words, origin))
            except Invalid as exc:
                self.problems.at(origin, str(exc))
        return {name: tuple(lines) for name, lines in acls.items()}

    @staticmethod
    def _lookup(acls: dict[str, tuple[Acl, ...]]) -> Callable[[str], tuple[Acl, ...] | None]:
        def lookup(name: str) -> tuple[Acl, ...] | None:
            if name in acls:  # a section's own ACL shadows a predefined one, as in HAProxy
                return acls[name]
            return PREDEFINED.get(name)

        return lookup

    def _condition(
        self,
        built: _Built,
        words: list[str],
        lookup: Callable[[str], tuple[Acl, ...] | None],
        origin: Origin,
    ) -> Condition:
        condition = parse_condition(words, lookup, origin)
        built.conditions.append(condition)
        return condition

    def _use_backends(
        self, built: _Built, lookup: Callable[[str], tuple[Acl, ...] | None]
    ) -> list[UseBackend]:
        rules = []
        for backend, words, origin in sorted(built.draft.use_backends, key=lambda r: r[2].line):
            try:
                condition = self._condition(built, words, lookup, origin) if words else None
            except Invalid as exc:
                self.problems.at(origin, str(exc))
                continue
            rules.append(UseBackend(backend, condition, origin))
        return rules

    def _rules(
        self,
        built: _Built,
        directive: str,
        lookup: Callable[[str], tuple[Acl, ...] | None],
    ) -> list[HeaderRule]:
        rules = []
        for words, origin in built.draft.rules[directive]:
            if directive == "http-request" and words and words[0] == "redirect":
                continue  # a redirect rule (see _redirects)

            def condition(cond_words: list[str], origin: Origin = origin) -> Condition:
                return self._condition(built, cond_words, lookup, origin)

            try:
                rules.append(parse_header_rule(directive, words, condition, origin))
            except Invalid as exc:
                self.problems.at(origin, str(exc))
        return rules

    # --- references between sections ------------------------------------------------------------

    def _cross_check(
        self,
        built: list[_Built],
        demos: list[tuple[DemoServer, Origin]],
        edges: list[EdgeDraft],
    ) -> None:
        backends = {b.backend.name: b for b in built if b.backend is not None}
        frontends = [b.frontend.name for b in built if b.frontend is not None]
        for edge in edges:
            for proxy_pass in edge.proxy_pass:
                name = proxy_pass.frontend
                if name is not None and name not in frontends and proxy_pass.origin is not None:
                    self.problems.at(
                        proxy_pass.origin,
                        f"no frontend named '{name}'"
                        + suggest(name, frontends)
                        + " (proxy-pass takes a [frontend] of this file or an http:// URL)",
                    )
        self._check_proxy_names(built)
        for item in built:
            draft = item.draft
            for backend, _words, origin in draft.use_backends:
                if backend not in backends:
                    self.problems.at(origin, _no_backend(backend, list(backends)))
            if draft.default_backend is not None:
                name, origin = draft.default_backend
                if name not in backends:
                    self.problems.at(origin, _no_backend(name, list(backends)))
            if item.backend is not None:
                self._check_stick_tables(item.backend, backends)
            used = [acl for group in item.acls.values() for acl in group]
            for condition in item.conditions:
                used.extend(condition_acls(condition))
            for acl in used:
                if acl.fetch == "nbsrv" and acl.fetch_arg not in backends:
                    message = _no_backend(str(acl.fetch_arg), list(backends))
                    self.problems.at(acl.origin, f"nbsrv({acl.fetch_arg}): {message}")
        self._check_binds(built, demos, edges)

    def _check_stick_tables(self, backend: Backend, backends: dict[str, _Built]) -> None:
        """Every stick rule needs a table: the backend's own, or another backend's by name."""
        for rule in backend.stick_rules:
            if rule.table is None:
                if backend.stick_table is None:
                    self.problems.at(
                        rule.origin,
                        f"no stick-table in [{rule.origin.section}]: add 'stick-table = type "
                        "... size ...' here, or name another backend's with 'table NAME'",
                    )
                continue
            target = backends.get(rule.table)
            if target is None:
                names = [n for n, b in backends.items() if b.backend and b.backend.stick_table]
                self.problems.at(
                    rule.origin, f"table {rule.table}: {_no_backend(rule.table, names)}"
                )
            elif target.backend is not None and target.backend.stick_table is None:
                self.problems.at(
                    rule.origin, f"table {rule.table}: [{target.draft.header}] has no stick-table"
                )

    def _check_proxy_names(self, built: list[_Built]) -> None:
        """A listen is a frontend and a backend: its name may not be reused by either."""
        by_name: dict[str, list[_Draft]] = {}
        for item in built:
            by_name.setdefault(item.draft.name, []).append(item.draft)
        for drafts in by_name.values():
            listens = [d for d in drafts if d.kind == dirs.LISTEN]
            if not listens or len(drafts) < 2:
                continue
            first = min(drafts, key=lambda d: d.line)
            for draft in drafts:
                if draft is not first:
                    self.problems.add(
                        f"[{draft.header}] has the same name as [{first.header}] (line "
                        f"{first.line}); a listen is both a frontend and a backend",
                        line=draft.line,
                        section=draft.header,
                    )

    def _check_binds(
        self,
        built: list[_Built],
        demos: list[tuple[DemoServer, Origin]],
        edges: list[EdgeDraft],
    ) -> None:
        binds: list[tuple[Endpoint, Origin]] = []
        for item in built:
            binds.extend(item.draft.binds)
        binds.extend((demo.bind, origin) for demo, origin in demos)
        for edge in edges:
            binds.extend(edge.all_binds)
        binds.sort(key=lambda b: b[1].line)
        for i, (endpoint, origin) in enumerate(binds):
            for other, other_origin in binds[:i]:
                if overlaps(endpoint, other):
                    self.problems.at(
                        origin,
                        f"{endpoint} is already bound by [{other_origin.section}] "
                        f"line {other_origin.line} ({other})",
                    )
                    break


# --- small helpers -------------------------------------------------------------------------------


def _one(words: list[str], name: str) -> str:
    if len(words) != 1:
        if not words:
            raise Invalid(f"'{name}' needs a value")
        raise Invalid(f"'{name}' takes one value, not {join_words(words)!r}")
    return words[0]


def _mode(value: str) -> None:
    if value == "http":
        return
    if value == "tcp":
        raise Invalid("mode tcp is not supported (stack is an HTTP proxy)")
    if value == "health":
        raise Invalid(
            "'mode health' doesn't exist anymore. Please use 'http-request return status 200' "
            "instead."
        )
    raise Invalid(f"unknown proxy mode '{value}' (stack supports mode http)")


_TUNE_LIMITS = {
    "tune.bufsize": (1024, INT_MAX),
    "tune.http.maxhdr": (1, 32767),
    "tune.http.uri-max": (16, INT_MAX),
}


def _tune(name: str, value: str) -> int:
    low, high = _TUNE_LIMITS[name]
    return parse_int(value, name, low, high)


def _stats_socket_path(word: str) -> str:
    """The path of a ``stats socket`` address: HAProxy's other address forms are refused."""
    prefix, at, rest = word.partition("@")
    if at and "/" not in prefix:
        if prefix == "unix":
            return rest
        raise Invalid(
            f"'{prefix}@' addresses are not supported yet: 'stats socket' takes a unix socket path"
        )
    if "/" not in word and ":" in word:
        raise Invalid(
            f"'stats socket' on TCP ({word}) is not supported yet: give a unix socket path"
        )
    return word


def _timeouts(values: dict[str, float | None]) -> Timeouts:
    """Merge the written timeouts and apply HAProxy's fallbacks (haproxy.md §1.12)."""
    t = Timeouts(**values)
    queue = t.queue if t.queue is not None else t.connect
    keep_alive = t.http_keep_alive
    if keep_alive is None:
        keep_alive = t.http_request if t.http_request is not None else t.client
    client_fin = t.client_fin if t.client_fin is not None else t.client
    return Timeouts(t.connect, t.client, t.server, t.http_request, keep_alive, queue, client_fin)


def _connection_mode(draft: _Draft, inherited: ConnectionMode) -> ConnectionMode:
    """The section's own choice; turning off the inherited one goes back to keep-alive."""
    enabled = sorted(
        ((origin.line, mode) for mode, (on, origin) in draft.modes.items() if on),
        key=lambda item: item[0],
    )
    if enabled:
        return enabled[0][1]
    if inherited in draft.modes:
        return ConnectionMode.KEEP_ALIVE
    return inherited


def _first(*values: T | None) -> T:
    """The first value that was written (a section's own, then [defaults], then built-in)."""
    for value in values:
        if value is not None:
            return value
    raise AssertionError("the last value is the built-in default")


def _resolve_proxy_pass(edge: Edge, frontends: tuple[Frontend, ...]) -> Edge:
    """Give each ``proxy-pass`` to a frontend that frontend's first address: where the edge
    connects when it runs in a process of its own, and what ProxyPassReverse maps back."""
    by_name = {f.name: f for f in frontends}
    resolved = []
    for proxy_pass in edge.proxy_pass:
        frontend = by_name.get(proxy_pass.frontend or "")
        if frontend is not None and frontend.binds:
            bind = frontend.binds[0]
            host = bind.host if bind.host not in WILDCARDS else "127.0.0.1"
            proxy_pass = replace(proxy_pass, host=host, port=bind.port)
        resolved.append(proxy_pass)
    return replace(edge, proxy_pass=tuple(resolved))


def _no_backend(name: str, backends: list[str]) -> str:
    return f"no backend named '{name}'" + suggest(name, backends)


def _appsession_rules(appsession: AppSession, origin: Origin) -> list[StickRule]:
    """HAProxy's replacement for appsession (haproxy.md §1.3): learn the cookie from the
    request and from the server's Set-Cookie, route requests that present it."""
    name = appsession.cookie
    rules = [
        StickRule("on", Sample("req.cook", name, f"req.cook({name})"), None, None, origin),
        StickRule(
            "store-response", Sample("res.cook", name, f"res.cook({name})"), None, None, origin
        ),
    ]
    if appsession.query_string:
        rules.insert(
            1, StickRule("on", Sample("url_param", name, f"url_param({name})"), None, None, origin)
        )
    return rules


def _appsession_notice(appsession: AppSession, origin: Origin) -> str:
    table = appsession.table
    expire = format_duration(table.expire or 0)
    lines = [
        f"stick-table = type string len {table.key_len} size 1m expire {expire}",
        *(
            f"stick {rule.kind} = {rule.sample.text}"
            for rule in _appsession_rules(appsession, origin)
        ),
    ]
    quoted = [f"'{line}'" for line in lines]
    written = ", ".join(quoted[:-1]) + " and " + quoted[-1]
    return (
        f"{origin}: HAProxy removed 'appsession' in 1.6; stack runs this one as the stick table "
        f"HAProxy recommends instead: {written}. Write these lines in place of 'appsession' "
        "and this notice goes away."
    )


def looks_like_key(text: str) -> bool:
    """Whether a continuation line looks like a forgotten ``key = value`` line."""
    head, sep, _rest = text.partition("=")
    if not sep:
        return False
    words = head.split()
    if not words:
        return False
    return words[0] in {d.split()[0] for d in dirs.DIRECTIVES} or words[0] in dirs.LEGACY


__all__ = ["ConfigError", "load", "summary"]
