#!/usr/bin/env bash
# make build: the collection as a user gets it.
#  1. ansible-galaxy collection build -> .build/dist/podnet-calico-<version>.tar.gz
#  2. tests/unit/test_build_artifact.py checks that tarball's file list; `make changelog` works on a copy
#  3. install it (and the pinned dependencies) into a clean collections path outside the checkout
#  4. ansible-test sanity from that installed copy
#  5. the lab's main job (ansible-playbook podnet.calico.lab) from that installed copy, with a lab
#     of its own (prefix pkb, its own state dir and ranges), then podnet.calico.lab_down
# PODNET_BUILD_LAB=0 skips step 5; PODNET_BUILD_SANITY=0 skips step 4.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py="$root/.venv/bin/python"
dist="$root/.build/dist"
version=$("$py" -c 'import yaml; print(yaml.safe_load(open("galaxy.yml"))["version"])')
tarball="$dist/podnet-calico-$version.tar.gz"
sum=$(printf %s "$root" | md5sum | cut -c1-8)
# Outside any git checkout (ansible-test asks git for the file list inside one), one per checkout.
base="${PODNET_BUILD_DIR:-/tmp/podnet-calico-build-$sum}"
installed="$base/collections"
coll="$installed/ansible_collections/podnet/calico"
log="$root/.build/build"
mkdir -p "$dist" "$log"

step() { printf '== %s (%s)\n' "$1" "$(date +%T)"; }

step "ansible-galaxy collection build"
rm -f "$dist"/podnet-calico-*.tar.gz
ansible-galaxy collection build --force --output-path "$dist" "$root"

step "tarball file list"
PODNET_BUILD_TARBALL="$tarball" "$py" -m pytest -p no:cacheprovider -q tests/unit/test_build_artifact.py

step "changelog release on a copy"
"$py" -m pytest -p no:cacheprovider -q tests/unit/test_build_changelog.py

step "install into a clean collections path: $installed"
rm -rf "$base"
mkdir -p "$installed"
# Only the clean path: the checkout's .build/collections (which links the working tree) is not seen.
export ANSIBLE_COLLECTIONS_PATH="$installed"
export ANSIBLE_HOME="$base/ansible-home"
ansible-galaxy collection install --no-deps --offline -p "$installed" "$tarball"
"$py" scripts/get-collections.py "$installed"
test -f "$coll/MANIFEST.json"
ansible-galaxy collection list -p "$installed" podnet.calico

if [ "${PODNET_BUILD_SANITY:-1}" != 0 ]; then
    step "ansible-test sanity from the installed copy"
    pyver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    # ansible-test shares its sanity venvs (~/.ansible/test/venv) between runs: a sanity run of
    # another checkout creating the same venv at the same moment fails pip; that case is retried once.
    for attempt in 1 2; do
        if (cd "$coll" && ansible-test sanity --python "$pyver" --color no --truncate 0) 2>&1 | tee "$log/sanity.log"; then
            break
        fi
        if [ "$attempt" = 1 ] && grep -q "Could not install packages due to an OSError" "$log/sanity.log"; then
            echo "build: ansible-test's shared venv was being created by another run; again"
            continue
        fi
        exit 1
    done
    if grep -q "All targets skipped" "$log/sanity.log"; then
        echo "build: ansible-test found no targets in $coll" >&2
        exit 1
    fi
fi

if [ "${PODNET_BUILD_LAB:-1}" != 0 ]; then
    step "the lab's main job from the installed copy (podnet.calico.lab)"
    # A lab of its own: never the default pn prefix or /tmp/podnet-lab.
    cat > "$base/lab-vars.yml" <<VARS
lab_prefix: pkb
lab_state_dir: $base/lab
lab_nodes: 2
lab_underlay_cidr: 10.89.232.0/24
lab_pod_cidr: 10.252.0.0/16
VARS
    down() {
        (cd "$base" && ansible-playbook -i localhost, podnet.calico.lab_down -e "@$base/lab-vars.yml") \
            > "$log/lab-down.log" 2>&1 || { echo "build: lab_down failed, see $log/lab-down.log" >&2; return 1; }
    }
    trap 'down || true' EXIT
    # From a directory of its own: nothing of the checkout (ansible.cfg, roles/) is used.
    (cd "$base" && ansible-playbook -i localhost, podnet.calico.lab -e "@$base/lab-vars.yml") 2>&1 | tee "$log/lab.log"
    down
    trap - EXIT
    "$py" tests/integration/podnet_testlib.py deprecations "$log/lab.log" "$log/lab-down.log"
fi
step "build: $tarball installed and tested"
