#!/bin/bash
# Static checks: ansible-test sanity (on a copy under ansible_collections/podnet/calico),
# ansible-lint (production profile), yamllint and the changelog fragments.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PODNET_PYTHON_VERSION:-$("$root/.venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}
dest="$root/.build/sanity/ansible_collections/podnet/calico"
mkdir -p "$dest"
rsync -a --delete --exclude .venv --exclude .build --exclude .git --exclude tests/output \
    --exclude .pytest_cache --exclude .hypothesis --exclude '__pycache__' "$root/" "$dest/"
# ansible-test refuses untracked files only in git checkouts; the copy has no .git.
cd "$dest"
echo "== ansible-test sanity (python $py)"
ansible-test sanity --python "$py" --color no --truncate 0
cd "$root"
echo "== ansible-lint (production profile)"
ansible-lint --offline -q
echo "== yamllint"
yamllint -s .
echo "== antsibull-changelog lint"
antsibull-changelog lint
echo "sanity: all clean"
