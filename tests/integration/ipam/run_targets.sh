#!/usr/bin/env bash
# Run the ansible-test integration targets of the IPAM modules (calico_ipam, calico_ipam_info)
# with `ansible-test integration --local`, on a copy of the tree under
# ansible_collections/podnet/calico outside the git checkout (as scripts/sanity.sh does).
# Usage: tests/integration/ipam/run_targets.sh [target ...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
py=$("$root/.venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
sum=$(printf %s "$root" | md5sum | cut -c1-8)
dest="${PODNET_TARGETS_DIR:-/tmp/podnet-calico-targets-$sum}/ansible_collections/podnet/calico"
mkdir -p "$dest"
rsync -a --delete --exclude .venv --exclude .build --exclude .git --exclude tests/output \
    --exclude .pytest_cache --exclude .hypothesis --exclude '__pycache__' "$root/" "$dest/"
cd "$dest"
export PATH="$root/.venv/bin:$PATH"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(calico_ipam calico_ipam_info)
ansible-test integration --local --python "$py" --color no "${targets[@]}"
