"""The HTTP cache test suite (cache-tests.fyi) against stack's edge cache, Apache and nginx.

Run it as ``scripts/cache-tests`` (see ``--help``). What it does:

1. installs the pinned version of the suite, the npm package ``http-cache-tests``, into
   ``$XDG_CACHE_HOME/stack/cache-tests-VERSION`` (``~/.cache/...``), once: that needs node, npm
   and the npm registry; later runs are offline. The package's origin server listens on every
   interface, so the installed copy is patched to listen on 127.0.0.1 only;
2. starts that origin once, on a free loopback port;
3. for each implementation (``--only``): stack's HTTPS edge with ``cache = on``; Apache httpd
   with mod_cache_disk and nginx with proxy_cache, configured as the suite's own docker/ configs,
   when their Debian packages are installed; (hidden) ``origin``, the client pointed straight at
   the origin, which is what a proxy that caches nothing scores. Each run starts the server with
   an empty cache, runs the suite's CLI against it (about a minute), and stops it by its pid;
4. judges every result with the suite's own ``determineTestResult()`` (dependencies honoured,
   scripts/cache_tests_count.mjs) and prints one table of required / optimal passes and check
   "yes" answers, the package's published results (browsers left out) beside them, then every
   required and optimal test stack did not pass.

Every process listens on 127.0.0.1 only. The exit status is 1 only when something could not run
(an implementation that is not installed does not count); scores never change it.
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import servers
from servers import RunError, Server

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "etc" / "cache-tests"
COUNTER = Path(__file__).resolve().parent / "cache_tests_count.mjs"
PACKAGE = "http-cache-tests"
VERSION = "0.4.5"  # the only version on the npm registry
LISTEN_ALL = "server.listen(port)"
LISTEN_LOOPBACK = "server.listen(port, '127.0.0.1')"
READY_STAMP = ".stack-ready"
KINDS = ("required", "optimal", "check")
PASSED = {"required": "pass", "optimal": "pass", "check": "yes"}
SYMBOLS = {
    "pass": "✅",
    "fail": "⛔️",
    "optional_fail": "⚠️",
    "yes": "Y",
    "no": "N",
    "setup_fail": "🔹",
    "harness_fail": "⁉️",
    "dependency_fail": "⚪️",
    "retry": "↻",
    "untested": "-",
}
Test = dict[str, Any]  # one of the suite's tests: id, suite, name, kind, depends_on
# Preloaded into the suite's client (node-fetch 2 on Node's global agents): one connection per
# request. With Node >= 19's keep-alive agents, Apache's mod_proxy_http answers a failed reuse of
# an origin connection on a kept-alive client connection by closing it without a response (for
# the client to retry; the suite's does not), and httpd loses ~30 required tests to that.
CLIENT_NO_KEEP_ALIVE = """\
const http = require('http')
const https = require('https')
http.globalAgent = new http.Agent({ keepAlive: false })
https.globalAgent = new https.Agent({ keepAlive: false })
"""


class SuiteUnavailable(RunError):
    """The suite cannot be installed here: no node/npm, or the registry is out of reach."""


# --- the suite ------------------------------------------------------------------------------------


def cache_home() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) if xdg else Path.home() / ".cache"


def suite_dir(cache_root: Path | None = None) -> Path:
    """Where the pinned package is installed (its own directory, ``node_modules/...``)."""
    base = (cache_root or cache_home() / "stack") / f"cache-tests-{VERSION}"
    return base / "node_modules" / PACKAGE


def node_env(**extra: str) -> dict[str, str]:
    """This environment without npm's settings (they would steer the suite), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_")}
    env.update(extra)
    return env


def require_node() -> str:
    node = shutil.which("node")
    if node is None:
        raise SuiteUnavailable("node not found: apt-get install nodejs npm")
    return node


def install_suite(cache_root: Path | None = None) -> Path:
    """The installed, loopback-patched suite; installed from the npm registry the first time.

    The install goes to a scratch directory that is renamed into place only once complete and
    patched, so an interrupted install is never mistaken for a finished one.
    """
    require_node()
    package = suite_dir(cache_root)
    install_root = package.parent.parent
    if not (install_root / READY_STAMP).exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SuiteUnavailable("npm not found: apt-get install npm")
        install_root.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"{install_root.name}.", dir=install_root.parent))
        try:
            npm_install(npm, scratch)
            patch_listen_loopback(scratch / "node_modules" / PACKAGE)
            (scratch / READY_STAMP).write_text(f"{PACKAGE}@{VERSION}\n")
            with contextlib.suppress(FileExistsError, OSError):
                scratch.rename(install_root)  # another run may have won the race: fine
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    check_suite(package)
    return package


def npm_install(npm: str, directory: Path) -> None:
    (directory / "package.json").write_text("{}\n")
    argv = [
        npm,
        "install",
        "--omit=dev",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--fetch-retries=1",
        "--fetch-timeout=30000",
        f"{PACKAGE}@{VERSION}",
    ]
    done = subprocess.run(argv, cwd=directory, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
        tail = "\n".join(errors[:5] or done.stderr.strip().splitlines()[-5:])
        raise SuiteUnavailable(
            f"npm install {PACKAGE}@{VERSION} failed (is the npm registry reachable?):\n{tail}"
        )


def patch_listen_loopback(package: Path) -> None:
    """Make the origin listen on 127.0.0.1 instead of every interface."""
    server = package / "server" / "server.mjs"
    text = server.read_text()
    if text.count(LISTEN_ALL) != 1:
        raise RunError(f"{server}: expected one {LISTEN_ALL!r} to patch; the package changed?")
    server.write_text(text.replace(LISTEN_ALL, LISTEN_LOOPBACK))


def check_suite(package: Path) -> None:
    """The installed copy is the pinned version and its origin listens on loopback only."""
    try:
        version = json.loads((package / "package.json").read_text())["version"]
        server = (package / "server" / "server.mjs").read_text()
    except (OSError, ValueError, KeyError) as error:
        raise RunError(
            f"{package} is not a usable {PACKAGE} install ({error}); delete it"
        ) from error
    if version != VERSION:
        raise RunError(f"{package} holds {PACKAGE} {version}, not {VERSION}; delete it")
    if LISTEN_LOOPBACK not in server or LISTEN_ALL in server:
        raise RunError(f"{package}/server/server.mjs does not listen on loopback only; delete it")


# --- processes ------------------------------------------------------------------------------------


def start_server(
    label: str,
    argv: Sequence[str],
    directory: Path,
    port: int,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Server:
    """``argv`` (in ``cwd``, else ``directory``, its log in ``directory``), listening on
    ``port``; stopped if it does not get there."""
    log = directory / f"{label}.log"
    server = Server(label, servers.spawn(argv, log, cwd or directory, env), log)
    with stopped_on_error(server):
        servers.wait_listening(server, port)
    return server


@contextlib.contextmanager
def stopped_on_error(server: Server) -> Iterator[Server]:
    """Stop ``server`` if what runs inside fails, and let the failure through."""
    try:
        yield server
    except BaseException:
        servers.stop(server)
        raise


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        servers.stop(server)


def render(template: str, destination: Path, **values: object) -> Path:
    try:
        text = Template((TEMPLATES / template).read_text()).substitute(
            {k: str(v) for k, v in values.items()}
        )
    except (OSError, KeyError, ValueError) as error:
        raise RunError(f"cannot render {TEMPLATES / template}: {error!r}") from error
    destination.write_text(text)
    return destination


def worker_account() -> tuple[str, str]:
    """User and group Apache's and nginx's workers drop to when started as root."""
    for name in ("www-data", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return name, grp.getgrgid(entry.pw_gid).gr_name
    raise RunError("neither user www-data nor nobody exists for the workers to run as")


def give_to_workers(*directories: Path) -> None:
    """As root, hand the directories the workers write to over to them."""
    if os.geteuid() != 0:
        return
    user, group = worker_account()
    for directory in directories:
        shutil.chown(directory, user, group)


# --- the implementations under test ---------------------------------------------------------------


@dataclass
class Target:
    """Where the suite's client goes for one run, and what it needs to trust."""

    base: str  # no trailing slash: the client appends /test/...
    server: Server | None = None
    ca_file: Path | None = None


@dataclass
class Context:
    args: argparse.Namespace
    origin_port: int
    client_options: list[str] = field(default_factory=list)  # node options for the CLI


@dataclass
class Implementation:
    key: str
    title: str
    detail: str
    start: Callable[[Context, Path], Target]
    binary: Callable[[argparse.Namespace], str] | None = None  # absent: "not installed"
    version: Callable[[argparse.Namespace], str] = lambda args: ""

    def installed(self, args: argparse.Namespace) -> bool:
        return self.binary is None or os.access(self.binary(args), os.X_OK)


def start_stack(context: Context, run_dir: Path) -> Target:
    twistd = context.args.twistd
    if missing := servers.twistd_missing(twistd):
        raise RunError(missing)
    (port,) = servers.free_ports(1)
    ini = render(
        "stack.ini.in",
        run_dir / "stack.ini",
        RUN_DIR=run_dir,
        PORT=port,
        ORIGIN_PORT=context.origin_port,
    )
    argv = [twistd, "-n", "--pidfile=", "--logfile=-", "stack", "-c", str(ini)]
    server = start_server("stack", argv, run_dir, port)
    ca_file = run_dir / "state" / "tls" / "ca.pem"
    with stopped_on_error(server):
        servers.wait_until(server, ca_file.exists, f"no local CA at {ca_file}")
    return Target(f"https://localhost:{port}", server, ca_file)


def start_apache(context: Context, run_dir: Path) -> Target:
    (port,) = servers.free_ports(1)
    (run_dir / "cache").mkdir()
    give_to_workers(run_dir / "cache")
    user, group = worker_account()
    conf = render(
        "apache.conf.in",
        run_dir / "apache.conf",
        RUN_DIR=run_dir,
        MODULES=context.args.apache_modules,
        USER=user,
        GROUP=group,
        PORT=port,
        ORIGIN_PORT=context.origin_port,
    )
    argv = [context.args.apache, "-f", str(conf), "-DFOREGROUND"]
    return Target(f"http://127.0.0.1:{port}", start_server("apache", argv, run_dir, port))


def start_nginx(context: Context, run_dir: Path) -> Target:
    (port,) = servers.free_ports(1)
    work = run_dir / "nginx"
    work.mkdir()
    give_to_workers(work)
    user, group = worker_account()
    conf = render(
        "nginx.conf.in",
        run_dir / "nginx.conf",
        RUN_DIR=run_dir,
        USER=user,
        GROUP=group,
        PORT=port,
        ORIGIN_PORT=context.origin_port,
    )
    argv = [context.args.nginx, "-p", str(run_dir), "-e", str(run_dir / "nginx-error.log")]
    argv += ["-c", str(conf), "-g", "daemon off;"]
    return Target(f"http://127.0.0.1:{port}", start_server("nginx", argv, run_dir, port))


def start_nothing(context: Context, run_dir: Path) -> Target:
    """The client straight at the origin: a proxy that caches nothing."""
    return Target(f"http://127.0.0.1:{context.origin_port}")


def first_line(argv: Sequence[str], pattern: str) -> str:
    """The first match of ``pattern`` (its group 1) in what ``argv`` prints; '' if none."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        found = re.search(pattern, done.stdout + done.stderr)
        if found:
            return found.group(1)
    return ""


IMPLEMENTATIONS = {
    impl.key: impl
    for impl in (
        Implementation("stack", "stack", "edge cache", start_stack),
        Implementation(
            "apache",
            "Apache httpd",
            "mod_cache_disk",
            start_apache,
            binary=lambda args: args.apache,
            version=lambda args: first_line([args.apache, "-v"], r"Apache/(\S+)"),
        ),
        Implementation(
            "nginx",
            "nginx",
            "proxy_cache",
            start_nginx,
            binary=lambda args: args.nginx,
            version=lambda args: first_line([args.nginx, "-v"], r"nginx/(\S+)"),
        ),
        Implementation("origin", "origin direct", "no cache", start_nothing),
    )
}
DEFAULT_ONLY = ("stack", "apache", "nginx")  # "origin" only when asked for


# --- running the suite ----------------------------------------------------------------------------


def start_origin(package: Path, work: Path) -> tuple[Server, int]:
    (port,) = servers.free_ports(1)
    env = node_env(
        npm_config_protocol="http",
        npm_config_port=str(port),
        npm_config_pidfile=str(work / "origin.pid"),
    )
    argv = [require_node(), "--no-warnings", "server/server.mjs"]
    return start_server("origin", argv, work, port, env=env, cwd=package), port


def client_options(args: argparse.Namespace, work: Path) -> list[str]:
    """Node options for the suite's CLI.

    ``--dns-result-order=ipv4first``: ``localhost`` must reach the edge on 127.0.0.1 even where
    Node (18, Debian 12's) would try ::1 first. Without ``--client-keep-alive``, a preloaded
    module gives the client a new connection per request, as the Node 14 the published results
    were made with did (Node 19 made keep-alive the default).
    """
    options = ["--no-warnings", "--dns-result-order=ipv4first"]
    if not args.client_keep_alive:
        preload = work / "client-no-keep-alive.cjs"
        preload.write_text(CLIENT_NO_KEEP_ALIVE)
        options += ["--require", str(preload)]
    return options


def run_client(context: Context, package: Path, target: Target, test_id: str) -> str:
    """The suite's CLI against ``target``: its stdout (JSON of every result, or one test's dump)."""
    timeout = context.args.client_timeout
    env = node_env(npm_config_base=target.base, npm_package_config_id=test_id)
    if target.ca_file is not None:
        env["NODE_EXTRA_CA_CERTS"] = str(target.ca_file)
    argv = [require_node(), *context.client_options, "cli.mjs"]
    try:
        done = subprocess.run(
            argv, cwd=package, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as error:
        raise RunError(f"the suite's client did not finish within {timeout:.0f} s") from error
    if done.returncode != 0 or (not test_id and not done.stdout.strip()):
        raise RunError(
            f"the suite's client failed (status {done.returncode}):\n{done.stderr.strip()[-2000:]}"
        )
    return done.stdout


def parse_results(stdout: str) -> dict[str, object]:
    start = stdout.find("{")
    try:
        results = json.loads(stdout[start:]) if start >= 0 else None
    except ValueError:
        results = None
    if not isinstance(results, dict) or not results:
        raise RunError(f"the suite's client printed no results:\n{stdout[:2000]}")
    return results


@dataclass
class Run:
    results_file: Path
    seconds: float
    results: dict[str, object]
    outcomes: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Row:
    """One line of the table: an implementation run here, or a published result."""

    key: str
    title: str
    version: str = ""
    detail: str = ""
    published: bool = False
    status: str = "ran"  # ran | not installed | failed
    error: str = ""
    runs: list[Run] = field(default_factory=list)

    @property
    def label(self) -> str:
        name = f"{self.title} {self.version}".strip()
        detail = "published" if self.published else self.detail
        return f"{name} ({detail})" if detail else name

    def ranked(self) -> list[Run]:
        """Runs best first: more required passes, then optimal, then check."""
        return sorted(self.runs, key=lambda r: [r.counts[k] for k in KINDS], reverse=True)


def fresh_directory(path: Path) -> Path:
    """An empty directory (a kept one from an earlier run is emptied) the workers can enter."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    os.chmod(path, 0o755)  # Apache's and nginx's workers dropped root
    return path


def run_implementation(
    impl: Implementation, context: Context, package: Path, work: Path, runs: int
) -> Row:
    args = context.args
    row = Row(impl.key, impl.title, impl.version(args), impl.detail)
    if not impl.installed(args):
        row.status = "not installed"
        return row
    try:
        for number in range(1, runs + 1):
            run_dir = fresh_directory(work / f"{impl.key}-{number}")
            print(f"{impl.key}: run {number} of {runs} ...", file=sys.stderr, flush=True)
            began = time.monotonic()
            target = impl.start(context, run_dir)
            try:
                stdout = run_client(context, package, target, "")
                if target.server is not None:
                    target.server.check_alive()
            finally:
                if target.server is not None:
                    servers.stop(target.server)
            results = parse_results(stdout)
            results_file = run_dir / "results.json"
            results_file.write_text(json.dumps(results, indent=2) + "\n")
            row.runs.append(Run(results_file, time.monotonic() - began, results))
    except (RunError, OSError) as error:
        row.status, row.error = "failed", str(error)
    return row


def run_one_test(impl: Implementation, context: Context, package: Path, work: Path) -> None:
    """``--id``: the client's own dump of one test (requests, responses, verdict)."""
    print(f"==== {impl.title}", flush=True)
    if not impl.installed(context.args):
        print("not installed\n")
        return
    run_dir = fresh_directory(work / f"{impl.key}-{context.args.id}")
    target = impl.start(context, run_dir)
    try:
        print(run_client(context, package, target, context.args.id))
    finally:
        if target.server is not None:
            servers.stop(target.server)


# --- judging and reporting ------------------------------------------------------------------------


def run_counter(package: Path, results_files: Sequence[Path]) -> dict[str, Any]:
    """What scripts/cache_tests_count.mjs says of the suite and of these results files."""
    argv = [require_node(), "--no-warnings", str(COUNTER), str(package)]
    argv += [str(path) for path in results_files]
    done = subprocess.run(argv, env=node_env(), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RunError(f"{COUNTER.name} failed:\n{done.stderr.strip()[-2000:]}")
    judged: dict[str, Any] = json.loads(done.stdout)
    return judged


def judge(package: Path, rows: list[Row]) -> tuple[list[Test], list[Row]]:
    """Fill in every run's outcomes and counts; the suite's tests and its published rows."""
    runs = [run for row in rows for run in row.runs]
    judged = run_counter(package, [run.results_file for run in runs])
    tests = judged["tests"]
    for run in runs:
        run.outcomes = judged["runs"][str(run.results_file)]
        run.counts = count(tests, run.outcomes)
    published = []
    for entry in judged["published"]:
        run = Run(Path(), 0.0, {}, entry["outcomes"], count(tests, entry["outcomes"]))
        published.append(
            Row(entry["type"], entry["name"], entry["version"], published=True, runs=[run])
        )
    return tests, published


def count(tests: list[Test], outcomes: dict[str, str]) -> dict[str, int]:
    """Passed required, passed optimal and "yes" check tests."""
    counts = dict.fromkeys(KINDS, 0)
    for test in tests:
        if outcomes.get(test["id"]) == PASSED[test["kind"]]:
            counts[test["kind"]] += 1
    return counts


def totals(tests: list[Test]) -> dict[str, int]:
    return {kind: sum(1 for t in tests if t["kind"] == kind) for kind in KINDS}


def score(row: Row, kind: str, total: int) -> str:
    """``passed/total``; with several runs ``best/total (worst N)``."""
    ranked = row.ranked()
    best, worst = ranked[0].counts[kind], ranked[-1].counts[kind]
    text = f"{best}/{total}"
    return text if len(ranked) == 1 else f"{text} (worst {worst})"


def print_table(rows: list[Row], total: dict[str, int]) -> None:
    header = ["implementation", "required", "optimal", "check yes"]
    lines = []
    for row in rows:
        if row.runs:
            lines.append([row.label] + [score(row, kind, total[kind]) for kind in KINDS])
        else:
            lines.append([row.label, row.status, "", ""])
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    for line in [header, *lines]:
        cells = [line[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells).rstrip())


def message_of(result: object) -> str:
    if isinstance(result, list) and len(result) > 1:
        return " ".join(str(part) for part in result[1:2]).strip()
    return ""


def print_misses(row: Row, tests: list[Test]) -> None:
    """Every required and optimal test a run did not pass: symbol, id, name, message."""
    print(f"\n{row.label}: required and optimal tests not passed", end="")
    print(f" (in any of {len(row.runs)} runs)" if len(row.runs) > 1 else "")
    found = False
    for test in tests:
        if test["kind"] == "check":
            continue
        missed = [run for run in row.runs if run.outcomes.get(test["id"]) != "pass"]
        if not missed:
            continue
        found = True
        run = missed[0]
        outcome = run.outcomes.get(test["id"], "untested")
        times = f" [{len(missed)} of {len(row.runs)} runs]" if len(row.runs) > 1 else ""
        print(f"{SYMBOLS[outcome]} {test['kind']} {test['suite']}/{test['id']}{times}")
        print(f"    {test['name']}")
        if outcome == "dependency_fail":
            failed = [d for d in test["depends_on"] if run.outcomes.get(d) not in ("pass", "yes")]
            print(f"    not evaluated: depends on {', '.join(failed)}")
        else:
            message = message_of(run.results.get(test["id"]))
            if message:
                print(f"    {message}")
    if not found:
        print("    none")


def verdict(rows: list[Row]) -> dict[str, object] | None:
    """Stack's worst run against every other row's best, kind by kind (None: stack did not run)."""
    stack = next((row for row in rows if row.key == "stack" and row.runs), None)
    if stack is None:
        return None
    others = [row for row in rows if row.runs and row.key not in ("stack", "origin")]
    mine = stack.ranked()[-1].counts
    result: dict[str, object] = {}
    for kind in ("required", "optimal"):
        best = max(others, key=lambda row: row.ranked()[0].counts[kind], default=None)
        theirs = best.ranked()[0].counts[kind] if best else 0
        result[kind] = {
            "stack_worst": mine[kind],
            "best_other": theirs,
            "best_other_label": best.label if best else "",
            "met": mine[kind] > theirs,
        }
    return result


def print_verdict(outcome: dict[str, object] | None) -> None:
    if outcome is None:
        return
    print("\ntarget: more required and optimal passes than every other row")
    for kind in ("required", "optimal"):
        entry = outcome[kind]
        assert isinstance(entry, dict)
        mark = "met" if entry["met"] else "NOT met"
        print(
            f"  {kind}: stack {entry['stack_worst']} vs {entry['best_other']}"
            f" ({entry['best_other_label']}): {mark}"
        )


def as_json(
    rows: list[Row], tests: list[Test], outcome: dict[str, object] | None
) -> dict[str, object]:
    def run_json(run: Run) -> dict[str, object]:
        return {
            "counts": run.counts,
            "seconds": round(run.seconds, 1),
            "outcomes": run.outcomes,
            "results": run.results,
        }

    return {
        "suite": {"package": PACKAGE, "version": VERSION, "totals": totals(tests)},
        "tests": tests,
        "implementations": [
            {
                "key": row.key,
                "label": row.label,
                "published": row.published,
                "status": row.status,
                "error": row.error,
                "best": row.ranked()[0].counts if row.runs else None,
                "worst": row.ranked()[-1].counts if row.runs else None,
                "runs": [run_json(run) for run in row.runs],
            }
            for row in rows
        ],
        "verdict": outcome,
    }


# --- main -----------------------------------------------------------------------------------------


def parse_only(text: str) -> list[str]:
    keys = [key.strip() for key in text.split(",") if key.strip()]
    unknown = [key for key in keys if key not in IMPLEMENTATIONS]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(
            f"choose from {', '.join(DEFAULT_ONLY)} (comma-separated), not {text!r}"
        )
    return keys


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/cache-tests",
        description=(
            f"Run the HTTP cache test suite ({PACKAGE} {VERSION} from the npm registry, the suite"
            " behind cache-tests.fyi) against stack's edge cache and, when installed, Apache httpd"
            " (mod_cache_disk) and nginx (proxy_cache), all on loopback; print required/optimal"
            " passes beside the suite's published results, then the tests stack did not pass."
            " Exits non-zero only if something could not run."
        ),
    )
    parser.add_argument(
        "--only",
        type=parse_only,
        default=list(DEFAULT_ONLY),
        metavar="LIST",
        help="comma-separated implementations: stack,apache,nginx (default: all three)",
    )
    parser.add_argument("--runs", type=int, default=1, help="runs per implementation (default 1)")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep configs, logs, results")
    parser.add_argument("--id", default="", help="run one test and show the client's dump of it")
    servers.add_twistd_option(parser)
    parser.add_argument("--json", metavar="OUT", help="also write everything as JSON to OUT")
    parser.add_argument("--apache", default="/usr/sbin/apache2", help=argparse.SUPPRESS)
    parser.add_argument(
        "--apache-modules", default="/usr/lib/apache2/modules", help=argparse.SUPPRESS
    )
    parser.add_argument("--nginx", default="/usr/sbin/nginx", help=argparse.SUPPRESS)
    parser.add_argument(
        "--client-keep-alive",
        action="store_true",
        help="let the suite's client keep connections alive (Node >= 19's default); by default"
        " it opens one per request, as when the published results were made",
    )
    parser.add_argument("--client-timeout", type=float, default=300, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


@contextlib.contextmanager
def work_directory(keep: str | None) -> Iterator[Path]:
    if keep:
        path = Path(keep).resolve()
        path.mkdir(parents=True, exist_ok=True)
        yield path
        print(f"\nconfigs, logs and results kept in {path}", file=sys.stderr)
        return
    path = Path(tempfile.mkdtemp(prefix="cache-tests."))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> int:
    package = install_suite()
    if args.id and args.id not in {test["id"] for test in run_counter(package, [])["tests"]}:
        raise RunError(f"no test {args.id!r} in {PACKAGE} {VERSION} (ids: see --json's tests)")
    os.chmod(work, 0o755)  # workers that dropped root reach their directories
    origin, origin_port = start_origin(package, work)
    context = Context(args, origin_port, client_options(args, work))
    chosen = [IMPLEMENTATIONS[key] for key in args.only]
    with running(origin):
        if args.id:
            for impl in chosen:
                run_one_test(impl, context, package, work)
            return 0
        began = time.monotonic()
        rows = [run_implementation(impl, context, package, work, args.runs) for impl in chosen]
        origin.check_alive()
    tests, published = judge(package, rows)
    total = totals(tests)
    print(
        f"\n{PACKAGE} {VERSION}: {len(tests)} tests for a reverse proxy ({total['required']}"
        f" required, {total['optimal']} optimal, {total['check']} check);"
        f" {args.runs} run(s) each, {time.monotonic() - began:.0f} s\n"
    )
    print_table(rows + published, total)
    for row in rows:
        if row.status == "failed":
            print(f"\n{row.label} could not run: {row.error}")
    for row in rows:
        if row.key == "stack" and row.runs:
            print_misses(row, tests)
    outcome = verdict(rows + published)
    print_verdict(outcome)
    if args.json:
        Path(args.json).write_text(json.dumps(as_json(rows + published, tests, outcome)) + "\n")
    return 1 if any(row.status == "failed" for row in rows) else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with servers.signals_as_interrupt(), work_directory(args.keep) as work:
            return run(args, work)
    except RunError as error:
        print(f"cache-tests: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cache-tests: interrupted", file=sys.stderr)
        return 130
