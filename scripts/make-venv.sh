#!/usr/bin/env bash
# Create .venv with the newest supported controller Python found (3.13, 3.12; else 3.11 with
# ansible-core 2.19) and install the pinned requirements. Safe to run again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
pick() {
    for v in 3.13 3.12; do
        if command -v pyenv >/dev/null 2>&1; then
            for full in $(pyenv versions --bare 2>/dev/null | grep -E "^${v//./\\.}\.[0-9]+$" | sort -rV); do
                echo "$(pyenv prefix "$full")/bin/python$v"; return 0
            done
        fi
        if command -v "python$v" >/dev/null 2>&1; then command -v "python$v"; return 0; fi
    done
    return 1
}
req="$root/requirements/tests.txt"
if ! py=$(pick); then
    py=$(command -v python3)
    req="$root/requirements/tests-py311.txt"
fi
if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv with $py"
    "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
# Stand-in for ansible-test's pip bootstrap download (no internet here).
pipver=$("$venv/bin/python" - <<'PY'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
mkdir -p "$HOME/.ansible/test/cache"
cp "$root/scripts/get_pip_standin.py" "$HOME/.ansible/test/cache/get_pip_${pipver//./_}.py"
