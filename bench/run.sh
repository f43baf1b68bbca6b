#!/usr/bin/env bash
# Run every benchmark (root; each makes and removes its own namespaces, etcd and files).
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
echo "== data plane: 100 pods, modules vs reference CNI plugins"
$py bench/dataplane/bench_dataplane.py
echo "== IPAM: assignments per second, SQLite and etcd"
$py bench/ipam/bench_ipam.py
echo "== lab: 3 nodes x 10 pods converge"
$py bench/lab/bench_lab.py
echo "== CNI: RunPodSandbox through containerd, our plugin vs ptp + host-local"
$py bench/cni/bench_cni.py
