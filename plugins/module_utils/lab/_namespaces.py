# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bring the podnet.calico namespace lab up or down on one Linux machine (private to the collection).

The lab is a set of network namespaces: a sink that holds the underlay bridge (no forwarding, no
default route), a controller-side namespace from which SSH connections enter the underlay, and one
namespace per node with its own mount and UTS namespaces (overlays on /etc, /opt and /var/lib, a
private /run) and its own sshd. Nothing is created in the namespace this program runs in.

The podnet.calico.lab module is the face of this file; plain Python, no Ansible import. Errors are
LabError with a message that names the setting and the value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import time

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import DataplaneError, Namespace
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._sysctl import read_in, write_in

MARKER = ".podnet-lab"
#: the sink's forwarding switch, read and written from inside the sink (it never forwards)
IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"
SETTINGS = ("prefix", "state_dir", "nodes", "node_name", "underlay_cidr")


class LabError(Exception):
    """A condition that stops the lab from coming up or going down, with a message for the user."""


class _Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


# How commands run: a function (argv) -> (rc, stdout, stderr) given by the caller (the lab module
# passes AnsibleModule.run_command), so that this file stays free of process handling of its own.
_RUNNER = []


def set_runner(runner):
    """Set the function that runs a command: runner(argv) returns (rc, stdout, stderr)."""
    del _RUNNER[:]
    _RUNNER.append(runner)


def run(cmd, check=True):
    if not _RUNNER:
        raise LabError("no command runner set (call set_runner first)")
    rc, out, err = _RUNNER[0](cmd)
    proc = _Result(rc, out, err)
    if check and proc.returncode != 0:
        raise LabError("command failed (%s): %s" % (" ".join(cmd), proc.stderr.strip() or proc.stdout.strip()))
    return proc


#: where `ip netns` keeps the named network namespaces (one bind-mounted file each)
NETNS_RUN_DIR = "/run/netns"


def netns_list():
    """The named network namespaces: the entries of /run/netns, which is what `ip netns list` lists
    (read here without running ip, which the lab's checks would run dozens of times per task)."""
    try:
        return sorted(os.listdir(NETNS_RUN_DIR))
    except OSError:
        return []


def port_open(netns, address, port, timeout=1.0):
    """Whether a TCP connection from inside the namespace ``netns`` to address:port is accepted (what
    `ip netns exec <netns> nc -z` tells, without two programs): the socket is made inside the namespace,
    so the connection never leaves the lab's namespaces. A namespace that is not there answers False."""
    try:
        namespace = Namespace(netns)
    except DataplaneError:
        return False
    try:
        with namespace.entered():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    finally:
        namespace.close()
    try:
        sock.settimeout(timeout)
        sock.connect((address, int(port)))
        return True
    except (OSError, socket.timeout):
        return False
    finally:
        sock.close()


def netns_pids(name):
    out = run(["ip", "netns", "pids", name], check=False).stdout.split()
    return [int(p) for p in out if p.isdigit()]


def ns_inode(pid, kind):
    try:
        return os.stat("/proc/%d/ns/%s" % (pid, kind)).st_ino
    except OSError:
        return None


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def write_state(path, state):
    """Replace the lab's state file ``path`` with ``state`` (JSON) in one rename."""
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(state, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.rename(tmp, path)


def read_pid(path):
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def descendants(pids):
    """Every process below ``pids`` (a container runtime's shims and the containers they start live
    in mount and network namespaces of their own, but descend from the node's processes)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found = set()
    todo = list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found - set(pids)


class Lab:
    def __init__(self, config):
        self.cfg = config
        self.prefix = config["prefix"]
        self.state_dir = os.path.abspath(config["state_dir"])
        self.count = int(config["nodes"])
        self.node_name = config.get("node_name", "node")
        try:
            self.net = ipaddress.ip_network(config["underlay_cidr"], strict=True)
        except ValueError as exc:
            raise LabError("lab_underlay_cidr %r is not a valid network: %s" % (config["underlay_cidr"], exc))
        self.extra_ranges = config.get("reserved_ranges", [])
        self.ssh_port = int(config.get("ssh_port", 22))
        self.sink = "%s-sink" % self.prefix
        self.ctl = "%s-ctl" % self.prefix
        hosts = list(self.net.hosts())
        if self.count < 1 or self.count > 200:
            raise LabError("lab_nodes must be between 1 and 200, got %s" % self.count)
        if len(hosts) < self.count + 11:
            raise LabError("lab_underlay_cidr %s is too small for %d nodes (needs at least %d addresses)"
                           % (self.net, self.count, self.count + 11))
        if not re.match(r"^[a-z][a-z0-9]{0,7}$", self.prefix):
            raise LabError("lab_prefix must be 1-8 lowercase letters or digits starting with a letter, got %r"
                           % self.prefix)
        if not re.match(r"^[a-z][a-z0-9-]{0,14}$", self.node_name):
            raise LabError("lab_node_name must be a short lowercase hostname stem, got %r" % self.node_name)
        self.gateway = str(hosts[0])
        self.ctl_ip = str(hosts[1])
        self.nodes = []
        for i in range(1, self.count + 1):
            name = "%s%d" % (self.node_name, i)
            self.nodes.append({
                "name": name,
                "netns": "%s-%s" % (self.prefix, name),
                "underlay_ip": str(hosts[9 + i]),
                "ssh_address": str(hosts[9 + i]),
                "ssh_port": self.ssh_port,
                "port": "p-%s" % name[-12:],
            })
        self.state_file = os.path.join(self.state_dir, "lab.json")
        self.key = os.path.join(self.state_dir, "id_ed25519")
        self.changes = []
        self._sink_links = None

    # -- settings and safety ------------------------------------------------------------------
    def settings(self):
        return {
            "prefix": self.prefix,
            "state_dir": self.state_dir,
            "nodes": self.count,
            "node_name": self.node_name,
            "underlay_cidr": str(self.net),
        }

    def load_state(self):
        try:
            with open(self.state_file) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def our_namespaces(self):
        pattern = re.compile(r"^%s-(sink|ctl|%s\d+)$" % (re.escape(self.prefix), re.escape(self.node_name)))
        return [name for name in netns_list() if pattern.match(name)]

    def host_routes(self):
        """IPv4 destinations of the routes in the namespace this program runs in (read only)."""
        out = run(["ip", "-j", "-4", "route", "show", "table", "all"], check=False).stdout.strip()
        routes = []
        for route in json.loads(out or "[]"):
            dst = route.get("dst")
            if not dst or dst == "default" or route.get("type") in ("broadcast",):
                continue
            if "/" not in dst:
                dst += "/32"
            try:
                net = ipaddress.ip_network(dst, strict=False)
            except ValueError:
                continue
            if net.is_loopback:
                continue
            routes.append((net, route.get("dev", "?")))
        return routes

    def preflight(self):
        ranges = [("lab_underlay_cidr", self.net)]
        for item in self.extra_ranges:
            try:
                ranges.append((item["name"], ipaddress.ip_network(item["cidr"], strict=True)))
            except ValueError as exc:
                raise LabError("%s: %s is not a valid CIDR (%s)" % (item["name"], item["cidr"], exc))
        host_routes = self.host_routes()
        for idx, (name, net) in enumerate(ranges):
            for other_name, other in ranges[idx + 1:]:
                if net.overlaps(other):
                    raise LabError("%s %s overlaps %s %s; choose ranges that do not overlap"
                                   % (name, net, other_name, other))
            for route, dev in host_routes:
                if net.overlaps(route):
                    raise LabError("%s %s overlaps the host route %s dev %s; refusing to build the lab "
                                   "(choose another range)" % (name, net, route, dev))
        state = self.load_state()
        if state is not None and state.get("settings") != self.settings():
            raise LabError("another lab is already up in %s with different settings (%s); run the lab down "
                           "first (make lab-down) or use another lab_state_dir and lab_prefix"
                           % (self.state_dir, json.dumps(state.get("settings"), sort_keys=True)))
        existing = self.our_namespaces()
        if state is None and existing:
            raise LabError("namespaces %s of a lab with prefix %r exist but %s has no lab state; another lab "
                           "is up with different settings: take it down with its own lab_state_dir, or "
                           "choose another lab_prefix" % (", ".join(existing), self.prefix, self.state_file))
        wanted = {self.sink, self.ctl} | {node["netns"] for node in self.nodes}
        stray = [name for name in existing if name not in wanted]
        if stray:
            raise LabError("namespaces %s belong to a lab with prefix %r but not to these settings; take "
                           "that lab down first" % (", ".join(stray), self.prefix))

    # -- building blocks ----------------------------------------------------------------------
    def note(self, what):
        self.changes.append(what)

    def ensure_netns(self, name, check):
        if name in netns_list():
            return
        self.note("create namespace %s" % name)
        if not check:
            run(["ip", "netns", "add", name])
            run(["ip", "-n", name, "link", "set", "lo", "up"])

    def links(self, netns):
        """{ifname: `ip -j addr` entry} of a namespace; the sink's is read once per run while it stays as
        it was (every port is checked against it) and read again after a change to it."""
        if netns == self.sink and self._sink_links is not None:
            return self._sink_links
        out = run(["ip", "-n", netns, "-j", "addr", "show"], check=False).stdout.strip()
        links = {link["ifname"]: link for link in json.loads(out or "[]")}
        if netns == self.sink:
            self._sink_links = links
        return links

    def sink_changed(self):
        self._sink_links = None

    def ensure_port(self, port, peer_ns, peer_addr, check):
        """A veth from the sink's bridge into peer_ns, where it is eth0 with peer_addr."""
        sink_links = self.links(self.sink) if self.sink in netns_list() else {}
        peer_links = self.links(peer_ns) if peer_ns in netns_list() else {}
        if port not in sink_links or "eth0" not in peer_links:
            self.note("wire %s to the underlay" % peer_ns)
            if check:
                return
            if port in sink_links:
                run(["ip", "-n", self.sink, "link", "del", port])
            if "eth0" in peer_links:
                run(["ip", "-n", peer_ns, "link", "del", "eth0"])
            run(["ip", "-n", self.sink, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                 "netns", peer_ns])
            self.sink_changed()
            sink_links = self.links(self.sink)
            peer_links = self.links(peer_ns)
        cidr = "%s/%d" % (peer_addr, self.net.prefixlen)
        have = ["%s/%d" % (a["local"], a["prefixlen"]) for a in peer_links["eth0"].get("addr_info", [])
                if a.get("family") == "inet"]
        if have != [cidr]:
            self.note("address %s on %s eth0" % (cidr, peer_ns))
            if not check:
                run(["ip", "-n", peer_ns, "addr", "flush", "dev", "eth0"])
                run(["ip", "-n", peer_ns, "addr", "add", cidr, "dev", "eth0"])
        if sink_links[port].get("master") != "br0" or "UP" not in sink_links[port].get("flags", []):
            self.note("attach %s to br0" % port)
            if not check:
                run(["ip", "-n", self.sink, "link", "set", port, "master", "br0", "up"])
                self.sink_changed()
        if "UP" not in peer_links["eth0"].get("flags", []):
            self.note("bring up eth0 in %s" % peer_ns)
            if not check:
                run(["ip", "-n", peer_ns, "link", "set", "eth0", "up"])

    def ensure_sink(self, check):
        self.ensure_netns(self.sink, check)
        links = self.links(self.sink) if self.sink in netns_list() else {}
        cidr = "%s/%d" % (self.gateway, self.net.prefixlen)
        if "br0" not in links:
            self.note("create bridge br0 in %s" % self.sink)
            if not check:
                run(["ip", "-n", self.sink, "link", "add", "br0", "type", "bridge"])
                run(["ip", "-n", self.sink, "addr", "add", cidr, "dev", "br0"])
                run(["ip", "-n", self.sink, "link", "set", "br0", "up"])
                self.sink_changed()
        if not check and self.sink in netns_list():
            namespace = Namespace(self.sink)
            try:
                if read_in(namespace, [IP_FORWARD])[IP_FORWARD] != 0:
                    self.note("turn forwarding off in %s" % self.sink)
                    write_in(namespace, {IP_FORWARD: 0})
            except DataplaneError as exc:
                raise LabError("the sink %s: %s" % (self.sink, exc))
            finally:
                namespace.close()

    def ensure_keys(self, check):
        if not os.path.isdir(self.state_dir):
            self.note("create state dir %s" % self.state_dir)
            if check:
                return
            os.makedirs(self.state_dir, 0o700)
        if not check:
            marker = os.path.join(self.state_dir, MARKER)
            if not os.path.exists(marker):
                with open(marker, "w") as handle:
                    handle.write("state dir of a podnet.calico lab (prefix %s)\n" % self.prefix)
        if not os.path.exists(self.key):
            self.note("create the lab's SSH client key")
            if not check:
                run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "podnet-lab-%s" % self.prefix,
                     "-f", self.key])
        auth = os.path.join(self.state_dir, "authorized_keys")
        if not check and not os.path.exists(auth):
            shutil.copyfile(self.key + ".pub", auth)
            os.chmod(auth, 0o600)

    def node_dir(self, node):
        return os.path.join(self.state_dir, "nodes", node["name"])

    def sshd_running(self, node):
        pid = read_pid(os.path.join(self.node_dir(node), "sshd.pid"))
        if pid is None or not pid_alive(pid) or node["netns"] not in netns_list():
            return None
        try:
            with open("/run/netns/%s" % node["netns"]) as _handle:
                want = os.fstat(_handle.fileno()).st_ino
        except OSError:
            return None
        return pid if ns_inode(pid, "net") == want else None

    def write_node_files(self, node):
        ndir = self.node_dir(node)
        for sub in ("etc", "opt", "varlib", "varlog", "root", "work/etc", "work/opt", "work/varlib", "work/varlog",
                    "work/root"):
            os.makedirs(os.path.join(ndir, sub), exist_ok=True)
        hostkey = os.path.join(ndir, "ssh_host_ed25519_key")
        if not os.path.exists(hostkey):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", node["name"], "-f", hostkey])
        lines = [
            "# sshd of lab node %s (podnet.calico lab %s)" % (node["name"], self.prefix),
            "Port %d" % self.ssh_port,
            "ListenAddress %s" % node["underlay_ip"],
            "HostKey %s" % hostkey,
            "PidFile %s" % os.path.join(ndir, "sshd.pid"),
            "AuthorizedKeysFile %s" % os.path.join(self.state_dir, "authorized_keys"),
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PrintMotd no",
            "MaxStartups 100:30:200",
            "MaxSessions 100",
            "Subsystem sftp /usr/lib/openssh/sftp-server",
        ]
        with open(os.path.join(ndir, "sshd_config"), "w") as handle:
            handle.write("\n".join(lines) + "\n")
        from ansible_collections.podnet.calico.plugins.module_utils.lab._runtime import (  # pylint: disable=import-outside-toplevel
            cgroup_mount_lines)
        hosts = ["127.0.0.1 localhost", "127.0.1.1 %s" % node["name"], "::1 localhost ip6-localhost"]
        hosts += ["%s %s" % (other["underlay_ip"], other["name"]) for other in self.nodes if other is not node]
        boot = """#!/bin/sh
# Runs in the node's network namespace, inside new mount and UTS namespaces.
set -e
d=%(dir)s
mount -t overlay podnet-etc -o lowerdir=/etc,upperdir=$d/etc,workdir=$d/work/etc /etc
# The host's containerd package configuration is not the node's: a node starts without one (the
# lab lays down a kubeadm-like file, site.yml edits it). Removed in the overlay only.
[ -e $d/etc/containerd/config.toml ] || rm -f /etc/containerd/config.toml
mount -t overlay podnet-opt -o lowerdir=/opt,upperdir=$d/opt,workdir=$d/work/opt /opt
mount -t overlay podnet-varlib -o lowerdir=/var/lib,upperdir=$d/varlib,workdir=$d/work/varlib /var/lib
mount -t overlay podnet-root -o lowerdir=/root,upperdir=$d/root,workdir=$d/work/root /root
mount -t overlay podnet-varlog -o lowerdir=/var/log,upperdir=$d/varlog,workdir=$d/work/varlog /var/log
mount -t tmpfs -o mode=0755 podnet-run /run
# The host's cgroup hierarchies (ip netns exec's /sys hides them; containerd's runc needs them).
%(cgroups)s
# The node's own root shell start-up: nothing from the host's (which may be slow or interactive).
printf '# root shell start-up of lab node %(name)s\n' > /root/.bashrc
printf '# root login start-up of lab node %(name)s\n' > /root/.profile
mkdir -p /run/sshd /run/netns /var/lib/calico /var/lib/cni /etc/cni/net.d /opt/cni/bin
hostname %(name)s
echo %(name)s > /etc/hostname
cat > /etc/hosts <<'HOSTS'
%(hosts)s
HOSTS
exec /usr/sbin/sshd -f $d/sshd_config
""" % dict(dir=ndir, name=node["name"], hosts="\n".join(hosts), cgroups="\n".join(cgroup_mount_lines()) or "true")
        path = os.path.join(ndir, "boot.sh")
        with open(path, "w") as handle:
            handle.write(boot)
        os.chmod(path, 0o700)
        return path

    def ensure_node(self, node, check):
        self.ensure_netns(node["netns"], check)
        self.ensure_port(node["port"], node["netns"], node["underlay_ip"], check)
        if check:
            if self.sshd_running(node) is None:
                self.note("start sshd of %s" % node["name"])
            return
        routes = run(["ip", "-n", node["netns"], "-j", "route", "show", "default"]).stdout.strip()
        if not any(r.get("gateway") == self.gateway for r in json.loads(routes or "[]")):
            self.note("default route of %s via the sink" % node["name"])
            run(["ip", "-n", node["netns"], "route", "replace", "default", "via", self.gateway, "dev", "eth0"])
        if self.sshd_running(node) is None:
            self.note("start sshd of %s" % node["name"])
            boot = self.write_node_files(node)
            run(["ip", "netns", "exec", node["netns"], "unshare", "--mount", "--uts", "--propagation",
                 "private", "--fork", boot])
            deadline = time.time() + 10
            while self.sshd_running(node) is None:
                if time.time() > deadline:
                    raise LabError("sshd of %s did not start (see %s)" % (node["name"], self.node_dir(node)))
                time.sleep(0.05)
            known = os.path.join(self.state_dir, "known_hosts")
            self.forget_host_key(known, node)

    def forget_host_key(self, known, node):
        if os.path.exists(known):
            run(["ssh-keygen", "-q", "-R", node["underlay_ip"], "-f", known], check=False)

    def wait_ssh(self):
        """Wait until every node's sshd answers on its underlay address, seen from the ctl namespace."""
        deadline = time.time() + 15
        for node in self.nodes:
            while True:
                if port_open(self.ctl, node["underlay_ip"], self.ssh_port):
                    break
                if time.time() > deadline:
                    raise LabError("sshd of %s is not reachable on %s:%d from %s"
                                   % (node["name"], node["underlay_ip"], self.ssh_port, self.ctl))
                time.sleep(0.1)

    # -- public operations --------------------------------------------------------------------
    def summary(self):
        """What is there now, for a diff: the lab's namespaces, the nodes whose sshd runs, the state dir."""
        return {
            "namespaces": sorted(self.our_namespaces()),
            "sshd_running": sorted(node["name"] for node in self.nodes if self.sshd_running(node) is not None),
            "state_dir": self.state_dir if os.path.exists(os.path.join(self.state_dir, MARKER)) else None,
        }

    def summary_when_up(self):
        """What summary() reads once the lab is up with these settings."""
        return {
            "namespaces": sorted([self.sink, self.ctl] + [node["netns"] for node in self.nodes]),
            "sshd_running": sorted(node["name"] for node in self.nodes),
            "state_dir": self.state_dir,
        }

    def state(self, previous=None):
        previous = previous or {}
        old_nodes = {n.get("name"): n for n in previous.get("nodes", [])}
        nodes = []
        for node in self.nodes:
            entry = dict(old_nodes.get(node["name"], {}))
            entry.update({k: node[k] for k in ("name", "netns", "underlay_ip", "ssh_address", "ssh_port")})
            entry["sshd_pid"] = self.sshd_running(node)
            nodes.append(entry)
        state = dict(previous)
        state.update({
            "settings": self.settings(),
            "prefix": self.prefix,
            "state_dir": self.state_dir,
            "underlay_cidr": str(self.net),
            "gateway": self.gateway,
            "sink_netns": self.sink,
            "ctl_netns": self.ctl,
            "ctl_ip": self.ctl_ip,
            "ssh_key": self.key,
            "known_hosts": os.path.join(self.state_dir, "known_hosts"),
            "proxy_command": "ip netns exec %s nc %%h %%p" % self.ctl,
            "nodes": nodes,
        })
        return state

    def up(self, check):
        self.preflight()
        previous = self.load_state() or {}
        self.ensure_keys(check)
        self.ensure_sink(check)
        self.ensure_netns(self.ctl, check)
        self.ensure_port("p-ctl", self.ctl, self.ctl_ip, check)
        for node in self.nodes:
            self.ensure_node(node, check)
        if check:
            return self.state(previous)
        self.wait_ssh()
        state = self.state(previous)
        # Persist only on change, so that an unchanged lab keeps its file (and mtime) as it was.
        if state != previous:
            if previous:
                self.note("update %s" % self.state_file)
            write_state(self.state_file, state)
        return state

    def down(self, check):
        state = self.load_state() or {}
        names = set(self.our_namespaces())
        names |= {n.get("netns") for n in state.get("nodes", []) if n.get("netns") in netns_list()}
        for name in (state.get("sink_netns"), state.get("ctl_netns")):
            if name and name in netns_list():
                names.add(name)
        # Processes: everything in the lab's network namespaces, and everything that shares a node's
        # mount namespace (pods' processes live in other network namespaces of the node).
        mount_ns = set()
        for node in self.nodes + [n for n in state.get("nodes", []) if isinstance(n, dict)]:
            pid = read_pid(os.path.join(self.node_dir(node), "sshd.pid"))
            if pid and pid_alive(pid):
                inode = ns_inode(pid, "mnt")
                if inode and inode != ns_inode(os.getpid(), "mnt"):
                    mount_ns.add(inode)
        victims = set()
        for name in names:
            victims.update(netns_pids(name))
        if mount_ns:
            for entry in os.listdir("/proc"):
                if entry.isdigit() and ns_inode(int(entry), "mnt") in mount_ns:
                    victims.add(int(entry))
        victims |= descendants(victims)
        victims.discard(os.getpid())
        if victims:
            self.note("stop %d lab processes" % len(victims))
        for name in sorted(names):
            self.note("delete namespace %s" % name)
        has_dir = os.path.exists(os.path.join(self.state_dir, MARKER))
        if has_dir:
            self.note("remove state dir %s" % self.state_dir)
        if check:
            return {"removed": sorted(names), "processes": sorted(victims)}
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in victims:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            deadline = time.time() + 3
            while any(pid_alive(p) for p in victims) and time.time() < deadline:
                time.sleep(0.05)
        left = [p for p in victims if pid_alive(p)]
        from ansible_collections.podnet.calico.plugins.module_utils.lab._runtime import (  # pylint: disable=import-outside-toplevel
            stop_relay)
        stop_relay(os.path.join(self.state_dir, "etcd", "relay.pid"))
        for name in sorted(names):
            run(["ip", "netns", "del", name], check=False)
        remaining = [n for n in self.our_namespaces() if n in names]
        if remaining or left:
            raise LabError("could not remove namespaces %s / processes %s" % (remaining, left))
        if has_dir:
            shutil.rmtree(self.state_dir)
        return {"removed": sorted(names), "processes": sorted(victims)}
