# Sourced by scripts/run and scripts/test: make .venv (or $STACK_VENV) and install stack into it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${STACK_VENV:-$root/.venv}"
extras="${1:-}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
stamp="$venv/.stack-installed${extras:+-$extras}"
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -e "$root${extras:+[$extras]}"
    # Twisted's plugin cache, written once now rather than on every start (python.md §1.2).
    "$venv/bin/python" -c "from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))"
    touch "$stamp"
fi
if [ "$extras" = "test" ]; then
    # sslyze grades the edge's TLS in the tests; it pins an older cryptography than
    # pyOpenSSL needs, so it gets a virtualenv of its own next to the project's.
    sslyze_venv="$venv-sslyze"
    if [ ! -x "$sslyze_venv/bin/python" ] || [ ! -f "$sslyze_venv/.installed" ]; then
        python3 -m venv "$sslyze_venv"
        "$sslyze_venv/bin/python" -m pip install --quiet "sslyze>=6,<7"
        touch "$sslyze_venv/.installed"
    fi
    export STACK_SSLYZE_PYTHON="$sslyze_venv/bin/python"
fi
