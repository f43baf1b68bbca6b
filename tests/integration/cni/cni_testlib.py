# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the CNI plugin tests: build the plugin, enter namespaces, call the plugin as a runtime does."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.dirname(HERE)
ROOT = os.path.dirname(os.path.dirname(INTEGRATION))
BUILDER = os.path.join(ROOT, "roles", "cni_plugins", "files", "podnet_cni_build.py")
for path in (INTEGRATION, os.path.join(INTEGRATION, "ipam")):
    if path not in sys.path:
        sys.path.insert(0, path)

from podnet_testlib import TEST_PREFIX, kill_netns  # noqa: E402  pylint: disable=wrong-import-position

#: Node interpreters the plugin is tested with: Debian's (pyroute2 0.7) and the venv's (0.9).
DEBIAN_PYTHON = "/usr/bin/python3"


def build_plugin(directory, python=DEBIAN_PYTHON, pyc=False):
    """Build calico (one Python file) and calico-ipam (link) into ``directory``; return the directory."""
    os.makedirs(directory, exist_ok=True)
    cmd = [sys.executable, BUILDER, "--collection", ROOT, "--output", os.path.join(directory, "calico"),
           "--python", python]
    if pyc:
        cmd.append("--pyc")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    link = os.path.join(directory, "calico-ipam")
    if not os.path.islink(link):
        os.symlink("calico", link)
    return directory


def build_hash(plugin):
    """The build hash written into the plugin at ``plugin``: its helper's socket is named by it."""
    if os.path.dirname(BUILDER) not in sys.path:
        sys.path.insert(0, os.path.dirname(BUILDER))
    import podnet_cni_build  # pylint: disable=import-outside-toplevel
    return podnet_cni_build.build_hash(plugin)


@contextlib.contextmanager
def in_netns(name):
    """Run the block (and the processes it starts) in network namespace ``name``."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/%s" % name, os.O_RDONLY)
    try:
        os.setns(target, os.CLONE_NEWNET)
        yield
    finally:
        os.setns(home, os.CLONE_NEWNET)
        os.close(home)
        os.close(target)


def add_netns(name):
    if os.path.exists("/run/netns/%s" % name):
        kill_netns(name)
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    return name


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        try:
            self.json = json.loads(proc.stdout) if proc.stdout.strip() else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "rc=%s stdout=%s stderr=%s" % (self.rc, self.stdout, self.stderr[-2000:])


def cni_env(command, container_id="", netns="", ifname="eth0", args="", path=""):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command}
    if container_id:
        env["CNI_CONTAINERID"] = container_id
    if netns is not None:
        env["CNI_NETNS"] = netns
    if ifname:
        env["CNI_IFNAME"] = ifname
    if args:
        env["CNI_ARGS"] = args
    if path:
        env["CNI_PATH"] = path
    return env


def call(plugin, node, conf, env, timeout=60):
    """Exec ``plugin`` in namespace ``node`` with ``env`` and ``conf`` (dict or text) on stdin."""
    text = conf if isinstance(conf, str) else json.dumps(conf)
    proc = subprocess.run(["nsenter", "--net=/run/netns/%s" % node, plugin], input=text, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout, check=False)
    return Result(proc)


def k8s_args(namespace, pod, container_id):
    return ("IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;K8S_POD_INFRA_CONTAINER_ID=%s"
            % (namespace, pod, container_id))


def ip_json(netns, *args):
    cmd = ["ip", "-j"] + (["-n", netns] if netns else []) + list(args)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out or "[]")


__all__ = ["TEST_PREFIX", "kill_netns", "build_plugin", "build_hash", "in_netns", "add_netns", "call", "cni_env", "k8s_args",
           "ip_json", "Result", "DEBIAN_PYTHON"]
