"""The ``[edge NAME]`` section: an Apache HTTPS virtual host and its port-80 twin, in INI.

Each key is the Apache directive an operator already writes, in stack's spelling
(``server-name`` is ServerName, ``proxy-pass`` is ProxyPass, ``certificate`` is
SSLCertificateFile + SSLCertificateKeyFile + SSLCertificateChainFile); docs/edge.md has the
table. Values are checked here, files included, so a bad certificate path is a ``--check``
error with its line, never a failure at the first handshake.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from . import ini
from .durations import parse_duration, parse_seconds
from .errors import Invalid, Problems
from .model import (
    Edge,
    EdgeCache,
    EdgeCertificate,
    Endpoint,
    Origin,
    ProxyPass,
    Timeouts,
    TlsProfile,
)
from .values import WILDCARDS, parse_bind, parse_endpoint, parse_int, parse_switch
from .words import WordError, join_words, split_words

HSTS_DEFAULT = "max-age=63072000"
REDIRECT_CODES = (301, 302, 303, 307, 308)
LOG_LEVELS = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")

# key -> (takes one line per value, what it is in Apache)
KEYS: dict[str, tuple[bool, str]] = {
    "bind": (True, "Listen + <VirtualHost *:443> with SSLEngine on"),
    "redirect-bind": (True, "the port-80 <VirtualHost> that redirects to https"),
    "server-name": (False, "ServerName"),
    "server-alias": (False, "ServerAlias"),
    "https-port": (False, "the port written in redirects to https"),
    "redirect-code": (False, "the status of the redirect to https ([R=301])"),
    "slash-redirect": (False, "RewriteRule ^/(app)$ /$1/ [R], for these prefixes only"),
    "certificate": (True, "SSLCertificateFile / SSLCertificateKeyFile / SSLCertificateChainFile"),
    "tls-profile": (False, "the Mozilla configuration (SSLProtocol, SSLCipherSuite)"),
    "ssl-session-cache": (False, "SSLSessionCache"),
    "ssl-session-tickets": (False, "SSLSessionTickets"),
    "hsts": (False, "Header always set Strict-Transport-Security"),
    "proxy-pass": (True, "ProxyPass"),
    "proxy-pass-reverse": (True, "ProxyPassReverse"),
    "cookie-path": (True, "ProxyPassReverseCookiePath"),
    "cookie-domain": (True, "ProxyPassReverseCookieDomain"),
    "preserve-host": (False, "ProxyPreserveHost"),
    "forwarded-headers": (False, "ProxyAddHeaders"),
    "trusted-proxy": (False, "RemoteIPTrustedProxy"),
    "via": (False, "ProxyVia"),
    "access-log": (False, "CustomLog ... combined"),
    "error-log": (False, "ErrorLog"),
    "log-level": (False, "LogLevel"),
    "timeout": (False, "Timeout"),
    "keep-alive-timeout": (False, "KeepAliveTimeout"),
    "request-timeout": (False, "RequestReadTimeout header=..."),
    "maxconn": (False, "MaxRequestWorkers"),
    "cache": (False, "CacheEnable disk URL-PATH (on: everything proxied)"),
    "cache-disable": (False, "CacheDisable URL-PATH"),
    "cache-root": (False, "CacheRoot"),
    "cache-size": (False, "htcacheclean -l SIZE"),
    "cache-clean-interval": (False, "htcacheclean -d MINUTES"),
    "cache-max-file-size": (False, "CacheMaxFileSize"),
    "cache-memory": (False, "bodies also kept in memory, up to this total"),
    "cache-default-expire": (False, "CacheDefaultExpire"),
    "cache-max-expire": (False, "CacheMaxExpire"),
    "cache-min-expire": (False, "CacheMinExpire"),
    "cache-last-modified-factor": (False, "CacheLastModifiedFactor"),
    "cache-ignore-no-last-mod": (False, "CacheIgnoreNoLastMod"),
    "cache-ignore-cache-control": (False, "CacheIgnoreCacheControl"),
    "cache-ignore-query-string": (False, "CacheIgnoreQueryString"),
    "cache-ignore-headers": (False, "CacheIgnoreHeaders"),
    "cache-stale-on-error": (False, "CacheStaleOnError"),
    "cache-lock": (False, "CacheLock"),
    "cache-lock-max-age": (False, "CacheLockMaxAge"),
    "cache-lock-max-waiters": (False, "how many requests may wait on one CacheLock"),
    "cache-name": (False, "the name in Cache-Status (CacheHeader / CacheDetailHeader)"),
}

# Cache keys and what they set on EdgeCache: (field, kind).
CACHE_KEYS: dict[str, tuple[str, str]] = {
    "cache-root": ("directory", "path"),
    "cache-size": ("size", "bytes"),
    "cache-clean-interval": ("clean_interval", "seconds"),
    "cache-max-file-size": ("max_object", "bytes"),
    "cache-memory": ("memory", "bytes"),
    "cache-default-expire": ("default_expire", "seconds"),
    "cache-max-expire": ("max_expire", "seconds"),
    "cache-min-expire": ("min_expire", "seconds"),
    "cache-last-modified-factor": ("last_modified_factor", "factor"),
    "cache-ignore-no-last-mod": ("ignore_no_last_mod", "switch"),
    "cache-ignore-cache-control": ("ignore_cache_control", "switch"),
    "cache-ignore-query-string": ("ignore_query_string", "switch"),
    "cache-ignore-headers": ("ignore_headers", "names"),
    "cache-stale-on-error": ("stale_on_error", "switch"),
    "cache-lock": ("lock", "switch"),
    "cache-lock-max-age": ("lock_max_age", "seconds"),
    "cache-lock-max-waiters": ("lock_max_waiters", "count"),
    "cache-name": ("name", "token"),
}

# Apache's directive names, so a pasted vhost line gets told its stack spelling.
APACHE_NAMES = {
    "listen": "bind",
    "servername": "server-name",
    "serveralias": "server-alias",
    "sslcertificatefile": "certificate",
    "sslcertificatekeyfile": "certificate (certificate = FILE key KEYFILE)",
    "sslcertificatechainfile": "certificate (certificate = FILE chain CHAINFILE)",
    "sslprotocol": "tls-profile",
    "sslciphersuite": "tls-profile",
    "sslsessiontickets": "ssl-session-tickets",
    "sslsessioncache": "ssl-session-cache",
    "proxypass": "proxy-pass",
    "proxypassreverse": "proxy-pass-reverse",
    "proxypassreversecookiepath": "cookie-path",
    "proxypassreversecookiedomain": "cookie-domain",
    "proxypreservehost": "preserve-host",
    "proxyaddheaders": "forwarded-headers",
    "remoteiptrustedproxy": "trusted-proxy",
    "proxyvia": "via",
    "customlog": "access-log",
    "errorlog": "error-log",
    "loglevel": "log-level",
    "keepalivetimeout": "keep-alive-timeout",
    "maxrequestworkers": "maxconn",
    "sslengine": "bind (an edge bind always speaks TLS)",
    "rewriterule": "redirect-bind (to https) or slash-redirect (/app to /app/)",
    "cacheenable": "cache",
    "cachedisable": "cache-disable",
    "cacheroot": "cache-root",
    "cachemaxfilesize": "cache-max-file-size",
    "cachedefaultexpire": "cache-default-expire",
    "cachemaxexpire": "cache-max-expire",
    "cacheminexpire": "cache-min-expire",
    "cachelastmodifiedfactor": "cache-last-modified-factor",
    "cacheignorenolastmod": "cache-ignore-no-last-mod",
    "cacheignorecachecontrol": "cache-ignore-cache-control",
    "cacheignorequerystring": "cache-ignore-query-string",
    "cacheignoreheaders": "cache-ignore-headers",
    "cachestaleonerror": "cache-stale-on-error",
    "cachelock": "cache-lock",
    "cachelockmaxage": "cache-lock-max-age",
    "cacheheader": "cache-name (a Cache-Status header is always sent)",
    "cachedetailheader": "cache-name (a Cache-Status header is always sent)",
    "cachequickhandler": "nothing: the cache always answers before the proxy",
}


@dataclass
class EdgeDraft:
    """What an ``[edge]`` section says (``None``: not written), with the lines cross-checks
    report on."""

    name: str
    header: str
    line: int
    binds: list[tuple[Endpoint, Origin]] = field(default_factory=list)
    redirect_binds: list[tuple[Endpoint, Origin]] = field(default_factory=list)
    server_name: str | None = None
    server_aliases: tuple[str, ...] = ()
    https_port: int | None = None
    redirect_code: int = 301
    slash_redirects: tuple[str, ...] = ()
    certificates: list[EdgeCertificate] = field(default_factory=list)
    auto: Origin | None = None
    tls_profile: TlsProfile = TlsProfile.INTERMEDIATE
    switches: dict[str, bool] = field(default_factory=dict)
    hsts: str | None = None
    proxy_pass: list[ProxyPass] = field(default_factory=list)
    proxy_pass_reverse: list[tuple[str, str]] = field(default_factory=list)
    cookie_paths: list[tuple[str, str]] = field(default_factory=list)
    cookie_domains: list[tuple[str, str]] = field(default_factory=list)
    trusted_proxies: tuple[str, ...] = ()
    logs: dict[str, tuple[str | None, bool]] = field(default_factory=dict)
    log_level: str = "warn"
    durations: dict[str, float | None] = field(default_factory=dict)
    maxconn: int = 0
    cache: list[str] | None = None  # None: not written; []: off
    cache_origin: Origin | None = None
    cache_disable: tuple[str, ...] = ()
    cache_settings: dict[str, tuple[object, Origin]] = field(default_factory=dict)
    edge: Edge | None = None

    @property
    def all_binds(self) -> list[tuple[Endpoint, Origin]]:
        return self.binds + self.redirect_binds


def read_edge(
    name: str,
    section: ini.Section,
    path: str,
    problems: Problems,
    single: Callable[[str, ini.Entry], tuple[int, str | None] | None],
    defaults: Timeouts,
    state_dir: str = "/var/lib/stack",
) -> EdgeDraft:
    """Check every key of one ``[edge NAME]`` section; build the :class:`Edge` when it holds.

    ``single`` is the loader's check that a key is written once; ``defaults`` are the
    ``[defaults]`` timeouts, used where the section sets none; the cache lives under
    ``state_dir`` unless ``cache-root`` says otherwise.
    """
    header = section.header
    draft = EdgeDraft(name, header, section.line)
    base_dir = os.path.dirname(path)
    seen: set[str] = set()
    for entry in section.entries:
        key = entry.key
        if key in seen:
            continue
        seen.add(key)
        if key not in KEYS:
            problems.add(_unknown(key, header), line=entry.line, section=header, key=key)
            continue
        multi, _apache = KEYS[key]
        lines: list[tuple[int, str]]
        if multi:
            lines = entry.occurrences()
            if entry.value is None or not lines:
                problems.add(f"'{key}' needs a value", line=entry.line, section=header, key=key)
                continue
        else:
            one = single(header, entry)
            if one is None:
                continue
            line, value = one
            if value is None or not value.strip():
                problems.add(f"'{key}' needs a value", line=line, section=header, key=key)
                continue
            lines = [(line, value)]
        for line, text in lines:
            origin = Origin(path, line, header, key)
            try:
                _value(draft, key, split_words(text), origin, base_dir)
            except (Invalid, WordError) as exc:
                problems.at(origin, str(exc))
    if not draft.binds:
        problems.add(
            "an edge needs 'bind = ADDRESS' (the HTTPS address it listens on)",
            line=section.line,
            section=header,
        )
    cache = _cache(draft, state_dir, problems)
    if not problems.has_line(section.line):
        draft.edge = _build(draft, defaults, Origin(path, section.line, header, ""), cache)
    return draft


def _unknown(key: str, header: str) -> str:
    apache = APACHE_NAMES.get(key.replace("-", "").replace("_", "").lower())
    if apache is not None:
        return f"unknown key '{key}' in [{header}]: Apache's {key} is written '{apache}' here"
    close = difflib.get_close_matches(key.lower(), list(KEYS), n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown key '{key}' in [{header}]{hint}"


def _one(words: list[str], key: str) -> str:
    if len(words) != 1:
        raise Invalid(f"'{key}' takes one value, not {join_words(words)!r}")
    return words[0]


def _value(draft: EdgeDraft, key: str, words: list[str], origin: Origin, base_dir: str) -> None:
    if key in ("bind", "redirect-bind"):
        binds = draft.binds if key == "bind" else draft.redirect_binds
        binds.extend((endpoint, origin) for endpoint in parse_bind(words))
    elif key == "server-name":
        draft.server_name = _hostname(_one(words, key), key)
    elif key == "server-alias":
        draft.server_aliases = tuple(_hostname(w, key) for w in words)
    elif key == "https-port":
        draft.https_port = parse_int(_one(words, key), "https-port", 1, 65535)
    elif key == "redirect-code":
        code = parse_int(_one(words, key), "redirect-code", 100, 599)
        if code not in REDIRECT_CODES:
            codes = ", ".join(str(c) for c in REDIRECT_CODES)
            raise Invalid(f"redirect-code {code} is not a redirect (use {codes})")
        draft.redirect_code = code
    elif key == "slash-redirect":
        draft.slash_redirects = tuple(_slash_prefix(w) for w in words)
    elif key == "certificate":
        if words == ["auto"]:
            draft.auto = origin
        else:
            draft.certificates.append(_certificate(words, origin, base_dir))
        if draft.auto is not None and draft.certificates:
            raise Invalid("'certificate = auto' cannot be mixed with certificate files")
    elif key == "tls-profile":
        text = _one(words, key).lower()
        try:
            draft.tls_profile = TlsProfile(text)
        except ValueError:
            raise Invalid(
                f"unknown tls-profile {text!r} (use intermediate or modern; Mozilla's 'old' "
                "profile, with TLS 1.0 and 1.1, is not offered)"
            ) from None
    elif key in SWITCHES:
        draft.switches[key] = parse_switch(_one(words, key))
    elif key == "hsts":
        draft.hsts = _hsts(" ".join(words))
    elif key == "proxy-pass":
        draft.proxy_pass.append(_proxy_pass(words, origin))
    elif key == "proxy-pass-reverse":
        prefix, url = _pair(words, key, "PREFIX URL", "/app1/ http://localhost:8080/app1/")
        _path_prefix(prefix, key)
        _http_url(url, key)
        draft.proxy_pass_reverse.append((prefix, url))
    elif key == "cookie-path":
        draft.cookie_paths.append(_pair(words, key, "INTERNAL PUBLIC", "/internal/ /app/"))
    elif key == "cookie-domain":
        example = "backend.local www.example.com"
        draft.cookie_domains.append(_pair(words, key, "INTERNAL PUBLIC", example))
    elif key == "trusted-proxy":
        for word in words:
            try:
                ipaddress.ip_network(word, strict=False)
            except ValueError:
                raise Invalid(f"trusted-proxy {word!r} is not an address or network") from None
        draft.trusted_proxies = tuple(words)
    elif key in ("access-log", "error-log"):
        draft.logs[key] = _log_path(words, key, base_dir)
    elif key == "log-level":
        level = _one(words, key).lower()
        if level not in LOG_LEVELS:
            raise Invalid(f"unknown log-level {level!r} (use {', '.join(LOG_LEVELS)})")
        draft.log_level = level
    elif key in ("timeout", "keep-alive-timeout", "request-timeout"):
        draft.durations[key] = parse_duration(_one(words, key)) or None
    elif key == "maxconn":
        draft.maxconn = parse_int(_one(words, key), "maxconn", 0)
    elif key == "cache":
        draft.cache = _cache_enable(words)
        draft.cache_origin = origin
    elif key == "cache-disable":
        draft.cache_disable = tuple(_cache_prefix(w, key) for w in words)
    elif key in CACHE_KEYS:
        draft.cache_settings[key] = (_cache_value(key, words, base_dir), origin)
    else:  # pragma: no cover - every key of KEYS has a branch
        raise AssertionError(key)


SWITCHES = {
    "ssl-session-cache": True,
    "ssl-session-tickets": True,
    "preserve-host": False,
    "forwarded-headers": True,
    "via": False,
}


def _cache_enable(words: list[str]) -> list[str]:
    """``cache = off | on | PREFIX...``: on caches everything proxied (CacheEnable disk /)."""
    if len(words) == 1 and words[0].lower() in ("on", "off", "yes", "no", "true", "false"):
        return ["/"] if parse_switch(words[0]) else []
    return [_cache_prefix(w, "cache") for w in words]


def _cache_prefix(text: str, key: str) -> str:
    if not text.startswith("/") or "?" in text or "#" in text:
        raise Invalid(f"{key} takes on, off or URL paths such as /static/, not {text!r}")
    return text


_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _bytes(text: str, key: str) -> int:
    """htcacheclean's sizes: a number with an optional B, K, M, G or T (powers of 1024)."""
    number = text.rstrip("bBkKmMgGtT")
    unit = text[len(number) :].lower()
    if not number.isdigit() or unit not in _SIZE_UNITS:
        raise Invalid(f"{text!r} is not a size (a number with an optional K, M, G or T)")
    return int(number) * _SIZE_UNITS[unit]


def _cache_value(key: str, words: list[str], base_dir: str) -> object:
    _field, kind = CACHE_KEYS[key]
    if kind == "names":
        return tuple(w.lower().rstrip(":") for w in words)
    text = _one(words, key)
    if kind == "path":
        return text if os.path.isabs(text) else os.path.join(base_dir, text)
    if kind == "bytes":
        return _bytes(text, key)
    if kind == "seconds":
        return float(parse_seconds(text))
    if kind == "count":
        return parse_int(text, key, 1)
    if kind == "switch":
        return parse_switch(text)
    if kind == "factor":
        try:
            factor = float(text)
        except ValueError:
            factor = -1.0
        if not 0 <= factor <= 10:
            raise Invalid(f"{key} is a number such as 0.1, not {text!r}")
        return factor
    if not text.replace("-", "").replace(".", "").replace("_", "").isalnum():
        raise Invalid(f"{key} is a token (letters, digits, '-', '.', '_'), not {text!r}")
    return text


def _cache(draft: EdgeDraft, state_dir: str, problems: Problems) -> EdgeCache | None:
    """The :class:`EdgeCache` of an edge, or ``None`` when ``cache`` is off or absent; cache
    keys written without ``cache`` are reported, since they would silently do nothing."""
    if not draft.cache:
        for _key, (_value, origin) in draft.cache_settings.items():
            problems.at(origin, "has no effect without 'cache = on' (or 'cache = PREFIX')")
        return None
    values: dict[str, object] = {CACHE_KEYS[k][0]: v for k, (v, _o) in draft.cache_settings.items()}
    values.setdefault("directory", os.path.join(state_dir, "cache", draft.name))
    return EdgeCache(prefixes=tuple(draft.cache), disabled=draft.cache_disable, **values)  # type: ignore[arg-type]


def _hsts(text: str) -> str | None:
    lowered = text.lower()
    if lowered in ("on", "yes", "true", "1"):
        return HSTS_DEFAULT
    if lowered in ("off", "no", "false", "0"):
        return None
    if not lowered.startswith("max-age="):
        raise Invalid(
            "hsts is on, off or a Strict-Transport-Security value starting with max-age= "
            f"(on means {HSTS_DEFAULT!r}), not {text!r}"
        )
    return text


def _hostname(text: str, key: str) -> str:
    endpoint = parse_endpoint(text, default_port=443)
    if endpoint.port != 443 or ":" in text.replace(endpoint.host, "", 1):
        raise Invalid(f"{key} is a name without a port, not {text!r} (the port is https-port)")
    return endpoint.host.lower()


def _slash_prefix(text: str) -> str:
    if not text.startswith("/") or text == "/":
        raise Invalid(f"slash-redirect takes paths such as /app, not {text!r}")
    if text.endswith("/"):
        raise Invalid(f"write slash-redirect {text.rstrip('/')} (the path that lacks the slash)")
    if "?" in text or "#" in text:
        raise Invalid(f"slash-redirect takes a path, not {text!r}")
    return text


def _certificate(words: list[str], origin: Origin, base_dir: str) -> EdgeCertificate:
    if not words:
        raise Invalid("certificate needs a PEM file, or 'auto'")
    cert, rest = words[0], words[1:]
    options: dict[str, str] = {}
    while rest:
        if len(rest) < 2 or rest[0] not in ("key", "chain"):
            raise Invalid(
                f"unexpected {join_words(rest)!r} after the certificate file (write "
                "'certificate = FILE [key FILE] [chain FILE]')"
            )
        if rest[0] in options:
            raise Invalid(f"'{rest[0]}' is given twice")
        options[rest[0]] = rest[1]
        rest = rest[2:]
    paths = {
        "certificate": cert,
        **options,
    }
    full: dict[str, str] = {}
    for what, p in paths.items():
        resolved = p if os.path.isabs(p) else os.path.join(base_dir, p)
        if not os.access(resolved, os.R_OK):
            reason = "No such file or directory" if not os.path.exists(resolved) else "unreadable"
            raise Invalid(f"{what} {resolved!r}: cannot read it: {reason}")
        full[what] = resolved
    return EdgeCertificate(full["certificate"], full.get("key"), full.get("chain"), origin)


def _pair(words: list[str], key: str, shape: str, example: str) -> tuple[str, str]:
    if len(words) != 2:
        raise Invalid(f"'{key}' takes {shape}, as in '{key} = {example}'")
    return words[0], words[1]


def _path_prefix(text: str, key: str) -> None:
    if not text.startswith("/"):
        raise Invalid(f"{key}: the path {text!r} must start with '/'")


def _http_url(text: str, key: str) -> tuple[str, int, str]:
    parts = urlsplit(text)
    if parts.scheme.lower() == "https":
        raise Invalid(f"{key}: https:// upstreams are not supported yet; the edge speaks http")
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise Invalid(f"{key}: {text!r} is not an http://HOST[:PORT]/PATH URL")
    if parts.query or parts.fragment:
        raise Invalid(f"{key}: {text!r} may not carry a query or fragment")
    try:
        port = parts.port or 80
    except ValueError:
        raise Invalid(f"{key}: {text!r} has an invalid port") from None
    return parts.hostname, port, parts.path or "/"


def _proxy_pass(words: list[str], origin: Origin) -> ProxyPass:
    prefix, target = _pair(words, "proxy-pass", "PREFIX TARGET", "/ web")
    _path_prefix(prefix, "proxy-pass")
    if "://" in target:
        host, port, path = _http_url(target, "proxy-pass")
        if prefix.endswith("/") != path.endswith("/"):
            raise Invalid(
                f"proxy-pass: keep trailing slashes symmetric ({prefix!r} and {path!r}), as "
                "Apache's ProxyPass documentation asks"
            )
        return ProxyPass(prefix, None, host, port, path, origin)
    # a frontend name: resolved to its address once every section is known
    return ProxyPass(prefix, target, "", 0, "/", origin)


def _log_path(words: list[str], key: str, base_dir: str) -> tuple[str | None, bool]:
    """``off``, ``stdout``, ``stderr`` or a file, then for access-log an optional ``tls``
    (append protocol and cipher, as Apache's ssl_request_log does) or ``combined``."""
    if not words:
        raise Invalid(f"'{key}' needs a file, stdout, stderr or off")
    target, rest = words[0], words[1:]
    tls = False
    for word in rest:
        if key == "access-log" and word == "tls":
            tls = True
        elif key == "access-log" and word == "combined":
            continue
        else:
            raise Invalid(f"unexpected {word!r} after the {key} file")
    if target == "off":
        return None, False
    if target in ("stdout", "stderr"):
        return target, tls
    full = target if os.path.isabs(target) else os.path.join(base_dir, target)
    directory = os.path.dirname(full) or "."
    if not os.path.isdir(directory):
        raise Invalid(f"{key} {full!r}: the directory {directory!r} does not exist")
    return full, tls


def _build(draft: EdgeDraft, defaults: Timeouts, origin: Origin, cache: EdgeCache | None) -> Edge:
    binds = tuple(e for e, _o in draft.binds)
    durations = draft.durations
    timeout = durations.get("timeout", defaults.client)
    switches = {**SWITCHES, **draft.switches}
    return Edge(
        name=draft.name,
        binds=binds,
        redirect_binds=tuple(e for e, _o in draft.redirect_binds),
        server_name=draft.server_name or _default_name(binds),
        server_aliases=draft.server_aliases,
        https_port=draft.https_port or binds[0].port,
        redirect_code=draft.redirect_code,
        slash_redirects=draft.slash_redirects,
        certificates=tuple(draft.certificates),
        tls_profile=draft.tls_profile,
        session_cache=switches["ssl-session-cache"],
        session_tickets=switches["ssl-session-tickets"],
        hsts=draft.hsts,
        proxy_pass=tuple(draft.proxy_pass),
        proxy_pass_reverse=tuple(draft.proxy_pass_reverse),
        cookie_paths=tuple(draft.cookie_paths),
        cookie_domains=tuple(draft.cookie_domains),
        preserve_host=switches["preserve-host"],
        forwarded=switches["forwarded-headers"],
        trusted_proxies=draft.trusted_proxies,
        via=switches["via"],
        access_log=draft.logs.get("access-log", (None, False))[0],
        access_log_tls=draft.logs.get("access-log", (None, False))[1],
        error_log=draft.logs.get("error-log", (None, False))[0],
        log_level=draft.log_level,
        timeouts=Timeouts(
            connect=defaults.connect if "timeout" not in durations else timeout,
            client=timeout,
            server=defaults.server if "timeout" not in durations else timeout,
            http_request=durations.get("request-timeout", defaults.http_request or 20.0),
            http_keep_alive=durations.get("keep-alive-timeout", 5.0),
            # mod_ssl closes after sending its close_notify, without waiting for the
            # client's; Apache's lingering close gives a client 2 s (SECONDS_TO_LINGER).
            client_fin=2.0,
        ),
        maxconn=draft.maxconn,
        cache=cache,
        origin=origin,
    )


def _default_name(binds: tuple[Endpoint, ...]) -> str:
    host = binds[0].host if binds else ""
    return host if host not in WILDCARDS else "localhost"
