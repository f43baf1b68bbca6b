#!/usr/bin/env bash
# Static checks: ansible-test sanity (on a copy under ansible_collections/podnet/calico),
# ansible-lint (production profile), yamllint and the changelog fragments.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PODNET_PYTHON_VERSION:-$("$root/.venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}
# The copy must live outside any git checkout: inside one (even in an ignored directory) ansible-test
# asks git for the file list and finds no targets.
# One copy per checkout, so two checkouts on one machine never share it.
sum=$(printf %s "$root" | md5sum | cut -c1-8)
dest="${PODNET_SANITY_DIR:-/tmp/podnet-calico-sanity-$sum}/ansible_collections/podnet/calico"
mkdir -p "$dest"
rsync -a --delete --exclude .venv --exclude .build --exclude .git --exclude tests/output \
    --exclude .pytest_cache --exclude .hypothesis --exclude '__pycache__' "$root/" "$dest/"
cd "$dest"
if git rev-parse --git-dir >/dev/null 2>&1; then
    echo "sanity: $dest is inside a git checkout; set PODNET_SANITY_DIR elsewhere" >&2
    exit 1
fi
echo "== ansible-test sanity (python $py)"
ansible-test sanity --python "$py" --color no --truncate 0 2>&1 | tee "$root/.build/sanity.log"
if grep -q "All targets skipped" "$root/.build/sanity.log"; then
    echo "sanity: ansible-test found no targets in $dest" >&2
    exit 1
fi
# The nodes run the modules with their own Python (Debian 12: 3.11): compile for it as well.
if command -v python3.11 >/dev/null 2>&1 && [ "$py" != "3.11" ]; then
    echo "== ansible-test sanity --test compile (python 3.11, the nodes' Python)"
    ansible-test sanity --test compile --python 3.11 --color no
fi
echo "== antsibull-docs lint-collection-docs (module, filter and role docs as the docs site renders them)"
ANSIBLE_COLLECTIONS_PATH="$(dirname "$(dirname "$(dirname "$dest")")")${ANSIBLE_COLLECTIONS_PATH:+:$ANSIBLE_COLLECTIONS_PATH}" \
    antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs all "$dest"
cd "$root"
echo "== ansible-lint (production profile)"
ansible-lint --offline -q
echo "== yamllint"
yamllint -s .
echo "== antsibull-changelog lint"
antsibull-changelog lint
echo "sanity: all clean"
