#!/bin/sh
# Install the Debian packages that the lab and the tests need (idempotent).
set -eu
PKGS="etcd-server etcd-client bird2 openssh-server openssh-client containernetworking-plugins iproute2 tcpdump
containerd runc podman busybox-static catatonit iptables
iputils-arping iputils-ping netcat-openbsd python3 python3-venv python3-pyroute2 python3-netaddr openssl rsync
util-linux procps"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# Debian's etcd and sshd packages may start services where an init system runs; the lab and the
# tests start their own instances, so stop stray packaged ones that would hold the default ports.
# Only a service whose pid file exists is stopped: without one, "service etcd stop" matches every
# process named etcd on the machine and would kill the tests' own etcd servers.
for svc in etcd:/run/etcd.pid ssh:/run/sshd.pid bird:/run/bird/bird.pid; do
    name=${svc%%:*}
    pidfile=${svc#*:}
    if [ -e "$pidfile" ] && command -v service >/dev/null 2>&1; then service "$name" stop >/dev/null 2>&1 || true; fi
done
