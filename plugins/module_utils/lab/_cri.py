# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A kubelet stand-in for the lab (private to the collection): pod sandboxes asked of containerd
through CRI v1 as the kubelet asks for them, and CNI CHECK of a pod with the result containerd's
libcni cached. Plain Python, no Ansible import; grpcio and PyPI's container-runtime-interface-api
(cri_api) are imported when a client is made. Errors are LabError naming the option and value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import uuid

from ansible_collections.podnet.calico.plugins.module_utils.calico._names import host_ifname, workload_id
from ansible_collections.podnet.calico.plugins.module_utils.lab._namespaces import LabError

#: Label put on every sandbox this stand-in makes: only those are removed when no longer listed.
MANAGED_LABEL = "podnet.calico/managed-by"
MANAGED_VALUE = "lab_pods"
#: Where containerd's libcni keeps the result of ADD (node's file system).
CNI_CACHE = "/var/lib/cni/results"
#: Sandbox states in CRI v1.
SANDBOX_READY = 0


def pod_uid(namespace, name):
    """A stable uid for a pod the user gave none (same name, same uid: reruns find the same pod)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "podnet-lab:%s/%s" % (namespace, name)))


class CRI:
    """CRI v1 RuntimeService of one containerd, over its unix socket."""

    def __init__(self, sock, timeout=120):
        try:
            import grpc  # pylint: disable=import-outside-toplevel
            from cri_api.v1 import api_pb2, api_pb2_grpc  # pylint: disable=import-outside-toplevel
        except ImportError as exc:
            raise LabError("the CRI client needs grpcio and container-runtime-interface-api (cri_api) in the "
                           "Python that runs the task (the controller's: requirements/controller.txt): %s" % exc)
        self.api = api_pb2
        self.grpc = grpc
        self.sock = sock
        self.channel = grpc.insecure_channel("unix://" + sock)
        self.runtime = api_pb2_grpc.RuntimeServiceStub(self.channel)
        self.timeout = timeout

    def _call(self, what, method, request):
        try:
            return method(request, timeout=self.timeout)
        except self.grpc.RpcError as exc:
            detail = exc.details() if hasattr(exc, "details") else str(exc)
            raise LabError("CRI %s on %s failed: %s" % (what, self.sock, detail))

    def version(self):
        return self._call("Version", self.runtime.Version, self.api.VersionRequest(version="v1"))

    def run(self, name, namespace, uid, labels=None):
        api = self.api
        config = api.PodSandboxConfig(
            metadata=api.PodSandboxMetadata(name=name, namespace=namespace, uid=uid, attempt=0),
            hostname=name, labels=labels or {},
            linux=api.LinuxPodSandboxConfig())
        resp = self._call("RunPodSandbox for %s/%s" % (namespace, name), self.runtime.RunPodSandbox,
                          api.RunPodSandboxRequest(config=config))
        return resp.pod_sandbox_id

    def status(self, sandbox_id):
        resp = self._call("PodSandboxStatus", self.runtime.PodSandboxStatus,
                          self.api.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=True))
        info = json.loads(resp.info.get("info", "{}") or "{}")
        netns = ""
        for item in (info.get("runtimeSpec") or {}).get("linux", {}).get("namespaces", []):
            if item.get("type") == "network":
                netns = item.get("path", "")
        return {"ip": resp.status.network.ip, "state": resp.status.state, "pid": info.get("pid"),
                "netns_path": netns}

    def stop(self, sandbox_id):
        self._call("StopPodSandbox", self.runtime.StopPodSandbox,
                   self.api.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))

    def remove(self, sandbox_id):
        self._call("RemovePodSandbox", self.runtime.RemovePodSandbox,
                   self.api.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))

    def list(self):
        return list(self._call("ListPodSandbox", self.runtime.ListPodSandbox,
                               self.api.ListPodSandboxRequest()).items)

    def close(self):
        self.channel.close()


def netns_name(path):
    """The name `ip netns` knows a pod's namespace by in the node (/run/netns/<name>), else the path."""
    for base in ("/run/netns/", "/var/run/netns/"):
        if path.startswith(base):
            return path[len(base):]
    return path


def _record(node, namespace, name, uid, sandbox_id, status):
    return {
        "node": node,
        "namespace": namespace,
        "name": name,
        "uid": uid,
        "sandbox_id": sandbox_id,
        "netns": netns_name(status["netns_path"]) if status else None,
        "ip": status["ip"] if status else None,
        "host_ifname": host_ifname(workload_id(namespace, name)),
    }


def list_pods(nodes, client=CRI):
    """Every ready sandbox this stand-in made on the nodes ({node name: containerd socket})."""
    result = []
    for node in sorted(nodes):
        cri = client(nodes[node])
        try:
            for item in cri.list():
                if item.labels.get(MANAGED_LABEL) == MANAGED_VALUE and item.state == SANDBOX_READY:
                    result.append({"node": node, "namespace": item.metadata.namespace, "name": item.metadata.name,
                                   "sandbox_id": item.id})
        finally:
            cri.close()
    return result


def sync_pods(nodes, pods, state, exclusive, check, client=CRI):
    """Make the listed pods exist (state present) or not (absent) on each node's containerd.

    ``nodes``: {node name: containerd socket}; ``pods``: [{node, namespace, name, uid}]. With
    ``exclusive``, sandboxes that carry our label and are not listed are stopped and removed. A
    sandbox that is not ready (its pause process died) is replaced. Returns (pods, changes)."""
    wanted = {}
    for pod in pods:
        if pod["node"] not in nodes:
            raise LabError("pods: node %r of pod %s/%s is not a node of the lab (nodes: %s)"
                           % (pod["node"], pod["namespace"], pod["name"], ", ".join(sorted(nodes))))
        key = (pod["node"], pod["namespace"], pod["name"])
        if key in wanted:
            raise LabError("pods: pod %s/%s is listed twice on node %s" % (pod["namespace"], pod["name"], pod["node"]))
        wanted[key] = pod
    changes, result, found = [], [], set()
    for node in sorted(nodes):
        cri = client(nodes[node])
        try:
            have = {}
            for item in cri.list():
                if item.labels.get(MANAGED_LABEL) != MANAGED_VALUE:
                    continue
                key = (node, item.metadata.namespace, item.metadata.name)
                have.setdefault(key, []).append(item)
            for key, items in sorted(have.items()):
                keep = None
                for item in items:
                    if (state == "present" and key in wanted and keep is None and item.state == SANDBOX_READY
                            and item.metadata.uid == wanted[key]["uid"]):
                        keep = item
                        continue
                    if state == "present" and key not in wanted and not exclusive:
                        continue
                    if state == "absent" and key not in wanted:
                        continue
                    changes.append("remove pod %s/%s (sandbox %s) on %s" % (key[1], key[2], item.id[:13], node))
                    if not check:
                        cri.stop(item.id)
                        cri.remove(item.id)
                if keep is not None:
                    result.append(_record(node, key[1], key[2], keep.metadata.uid, keep.id, cri.status(keep.id)))
                    found.add(key)
            if state == "present":
                for key, pod in sorted(wanted.items()):
                    if key[0] != node or key in found:
                        continue
                    changes.append("run pod %s/%s on %s" % (pod["namespace"], pod["name"], node))
                    if check:
                        result.append(_record(node, pod["namespace"], pod["name"], pod["uid"], None, None))
                        continue
                    sandbox = cri.run(pod["name"], pod["namespace"], pod["uid"], {MANAGED_LABEL: MANAGED_VALUE})
                    result.append(_record(node, pod["namespace"], pod["name"], pod["uid"], sandbox,
                                          cri.status(sandbox)))
        finally:
            cri.close()
    result.sort(key=lambda p: (p["node"], p["namespace"], p["name"]))
    return result, changes


def cni_check(pod, node_root, bin_dir, runner):
    """CNI CHECK of one pod, as libcni runs it: every plugin of the cached network config in order,
    with the cached ADD result as prevResult. ``runner(argv, env, stdin)`` runs a command in the
    node (its mount and network namespaces) and returns (rc, stdout, stderr). Returns (ok, message)."""
    directory = node_root + CNI_CACHE
    try:
        # <network name>-<container id>-<ifname>; containerd's built-in loopback network has its own
        # entry (cni-loopback-<id>-lo), which is not the pod's network.
        names = [n for n in os.listdir(directory) if n.endswith("-%s-eth0" % pod["sandbox_id"])]
    except OSError as exc:
        return False, "no libcni cache in the node's %s (%s)" % (CNI_CACHE, exc)
    if not names:
        return False, "no cached ADD result for sandbox %s in the node's %s" % (pod["sandbox_id"][:13], CNI_CACHE)
    with open(os.path.join(directory, sorted(names)[0])) as handle:
        cache = json.load(handle)
    try:
        netconf = json.loads(base64.b64decode(cache["config"]))
    except (KeyError, ValueError, TypeError) as exc:
        return False, "cannot read the cached network config of sandbox %s: %s" % (pod["sandbox_id"][:13], exc)
    args = ";".join("%s=%s" % (k, v) for k, v in cache.get("cniArgs") or [])
    plugins = netconf.get("plugins") or [netconf]
    ifname = cache.get("ifName") or "eth0"
    # The netns path exactly as the runtime gave it at ADD (plugins compare it with the result's
    # sandbox as strings: /var/run/netns/x is not /run/netns/x to them).
    netns = "/run/netns/%s" % pod["netns"] if "/" not in pod["netns"] else pod["netns"]
    for intf in (cache.get("result") or {}).get("interfaces") or []:
        if intf.get("name") == ifname and intf.get("sandbox"):
            netns = intf["sandbox"]
    for plugin in plugins:
        conf = dict(plugin)
        conf["name"] = netconf.get("name")
        conf["cniVersion"] = netconf.get("cniVersion")
        conf["prevResult"] = cache.get("result") or {}
        env = {"CNI_COMMAND": "CHECK", "CNI_CONTAINERID": pod["sandbox_id"],
               "CNI_NETNS": netns, "CNI_IFNAME": ifname, "CNI_PATH": bin_dir, "CNI_ARGS": args}
        rc, out, err = runner([os.path.join(bin_dir, plugin["type"])], env, json.dumps(conf))
        if rc != 0:
            try:
                message = json.loads(out).get("msg")
            except ValueError:
                message = None
            detail = message or (out + err).strip()
            return False, "CHECK of plugin %s failed (rc %d): %s" % (plugin["type"], rc, detail)
    return True, "CHECK of %s passed (%s, cniVersion %s)" % (
        "+".join(p["type"] for p in plugins), netconf.get("name"), netconf.get("cniVersion"))
