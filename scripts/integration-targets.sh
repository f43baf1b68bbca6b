#!/usr/bin/env bash
# ansible-test integration --local for the targets under tests/integration/targets/ (as root, real
# namespaces), from a copy under ansible_collections/podnet/calico outside any git checkout (as
# scripts/sanity.sh does), with the pinned dependency collections installed beside it.
# Zero targets is a pass (the run says so); any target a change adds is picked up.
# Extra arguments go to ansible-test (e.g. a target name: scripts/integration-targets.sh calico_veth).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PODNET_PYTHON_VERSION:-$("$root/.venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}
sum=$(printf %s "$root" | md5sum | cut -c1-8)
base="${PODNET_INTEGRATION_DIR:-/tmp/podnet-calico-integration-$sum}"
dest="$base/ansible_collections/podnet/calico"
log="$root/.build/integration-targets.log"
mkdir -p "$dest" "$root/.build"
rsync -a --delete --exclude .venv --exclude .build --exclude .git --exclude tests/output \
    --exclude .pytest_cache --exclude .hypothesis --exclude '__pycache__' "$root/" "$dest/"
"$root/.venv/bin/python" "$root/scripts/get-collections.py" "$base"
cd "$dest"
if git rev-parse --git-dir >/dev/null 2>&1; then
    echo "integration: $dest is inside a git checkout; set PODNET_INTEGRATION_DIR elsewhere" >&2
    exit 1
fi
# the venv's ansible-test, whatever PATH says: a missing or failing ansible-test is an error, never "no targets"
at="$root/.venv/bin/ansible-test"
export PATH="$root/.venv/bin:$PATH"
if [ ! -x "$at" ]; then
    echo "integration: $at is missing (make prep creates the venv)" >&2
    exit 1
fi
if ! listing=$("$at" integration --list-targets "$@" 2>"$base/list-targets.err"); then
    echo "integration: ansible-test could not list the targets ($*):" >&2
    cat "$base/list-targets.err" >&2
    exit 1
fi
targets=$(printf '%s\n' "$listing" | grep -v '^setup_' | grep . || true)
if [ -z "$targets" ]; then
    echo "integration targets: none under tests/integration/targets/ yet (only setup targets); nothing to run"
    exit 0
fi
echo "== ansible-test integration --local (python $py): $(echo $targets | tr '\n' ' ')"
export ANSIBLE_COLLECTIONS_PATH="$base"
"$at" integration --local --python "$py" --color no --allow-destructive "$@" 2>&1 | tee "$log"
"$root/.venv/bin/python" "$root/tests/integration/podnet_testlib.py" deprecations "$log"
