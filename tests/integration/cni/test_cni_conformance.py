# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CNI conformance of podnet.calico's plugin, exec'd as a runtime does (env + stdin), on real namespaces.

Every test runs the plugin inside a node namespace whose 127.0.0.1 has a real etcd (TLS), with
Debian's python3 (pyroute2 0.7) unless it says otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cni_testlib import TEST_PREFIX, add_netns, build_plugin, call, cni_env, ip_json, k8s_args, kill_netns

VERSIONS = ["0.3.1", "0.4.0", "1.0.0", "1.1.0"]
_counter = [0]


def host_ifname(namespace, pod):
    return ("cali" + hashlib.sha1(("%s.%s" % (namespace, pod)).encode()).hexdigest())[:15]


class Pod:
    """A pod sandbox: its network namespace and the CNI identity a runtime gives it."""

    def __init__(self, node, tag):
        _counter[0] += 1
        self.node = node
        self.namespace = "default"
        self.name = "%s-%s-%d" % (tag, TEST_PREFIX, _counter[0])
        self.container_id = hashlib.sha256(self.name.encode()).hexdigest()[:64]
        self.netns_name = add_netns("%s-p%d" % (TEST_PREFIX, _counter[0]))
        self.netns = "/run/netns/%s" % self.netns_name
        self.host_ifname = host_ifname(self.namespace, self.name)

    def env(self, command, netns=True, **kw):
        return cni_env(command, self.container_id, self.netns if netns else "", kw.pop("ifname", "eth0"),
                       k8s_args(self.namespace, self.name, self.container_id), **kw)

    def call(self, command, conf, netns=True, plugin=None):
        return call(plugin or self.node.calico, self.node.name, conf, self.env(command, netns=netns))

    def remove(self):
        kill_netns(self.netns_name)


@pytest.fixture
def pods(cni_node):
    made = []

    def make(tag="pod"):
        pod = Pod(cni_node, tag)
        made.append(pod)
        return pod

    yield make
    for pod in made:
        call(cni_node.calico, cni_node.name, cni_node.conf(), pod.env("DEL", netns=False))
        pod.remove()


def node_state(node, pod):
    """What of ``pod`` exists: host veth, /32 route on the node, handle, WorkloadEndpoint."""
    links = [link["ifname"] for link in ip_json(node.name, "link", "show")]
    routes = [r["dst"] for r in ip_json(node.name, "route", "show") if r.get("dev") == pod.host_ifname]
    handle = "k8s-pod-network.%s" % pod.container_id
    return {
        "veth": pod.host_ifname in links,
        "routes": routes,
        "handle": handle in node.handles(),
        "weps": [k for k in node.weps() if k.endswith("-k8s-%s-eth0" % pod.name.replace("-", "--"))],
    }


def assert_gone(node, pod):
    state = node_state(node, pod)
    assert state == {"veth": False, "routes": [], "handle": False, "weps": []}, state


@pytest.mark.parametrize("version", VERSIONS)
def test_add_check_del(cni_node, pods, version):
    pod = pods()
    conf = cni_node.conf(version)
    add = pod.call("ADD", conf)
    assert add.rc == 0, add
    res = add.json
    assert res["cniVersion"] == version
    ip = res["ips"][0]["address"]
    assert ip.startswith("10.77.") and ip.endswith("/32")
    assert ("version" in res["ips"][0]) == (version < "1.0.0")
    assert res["interfaces"][0]["name"] == pod.host_ifname
    assert res["interfaces"][1] == {"name": "eth0", "mac": res["interfaces"][1]["mac"], "sandbox": pod.netns}
    # the pod side as Calico builds it
    addrs = ip_json(pod.netns_name, "-4", "addr", "show", "dev", "eth0")[0]
    assert ["%s/%s" % (a["local"], a["prefixlen"]) for a in addrs["addr_info"]] == [ip]
    assert addrs["mtu"] == 1450
    routes = ip_json(pod.netns_name, "route", "show")
    assert {"dst": "default", "gateway": "169.254.1.1", "dev": "eth0"}.items() <= \
        next(r for r in routes if r["dst"] == "default").items()
    assert any(r["dst"] == "169.254.1.1" and r.get("scope") == "link" for r in routes)
    # the node side
    host = ip_json(cni_node.name, "link", "show", "dev", pod.host_ifname)[0]
    assert host["address"] == "ee:ee:ee:ee:ee:ee"
    node_routes = ip_json(cni_node.name, "route", "show", ip.split("/")[0])
    assert node_routes and node_routes[0]["dev"] == pod.host_ifname and node_routes[0]["protocol"] == "201"
    with open("/proc/sys/net/ipv4/conf/all/forwarding"):
        pass
    proxy = subprocess.run(["ip", "netns", "exec", cni_node.name, "cat",
                            "/proc/sys/net/ipv4/conf/%s/proxy_arp" % pod.host_ifname,
                            "/proc/sys/net/ipv4/neigh/%s/proxy_delay" % pod.host_ifname],
                           stdout=subprocess.PIPE, text=True, check=True).stdout.split()
    assert proxy == ["1", "0"]
    # datastore: handle with attributes, WorkloadEndpoint in Calico's layout
    state = node_state(cni_node, pod)
    assert state["handle"] and len(state["weps"]) == 1
    wep = json.loads(cni_node.weps()[state["weps"][0]])
    assert state["weps"][0] == ("/calico/resources/v3/projectcalico.org/workloadendpoints/default/"
                                "cni--node1-k8s-%s-eth0" % pod.name.replace("-", "--"))
    assert wep["kind"] == "WorkloadEndpoint" and wep["apiVersion"] == "projectcalico.org/v3"
    assert wep["spec"]["ipNetworks"] == [ip] and wep["spec"]["interfaceName"] == pod.host_ifname
    assert wep["spec"]["containerID"] == pod.container_id and wep["spec"]["node"] == "cni-node1"
    assert wep["spec"]["pod"] == pod.name and wep["metadata"]["namespace"] == "default"
    blocks = cni_node.keys("/calico/ipam/v2/assignment/ipv4/block/")
    attrs = [a for v in blocks.values() for a in json.loads(v)["attributes"]
             if a.get("handle_id") == "k8s-pod-network.%s" % pod.container_id]
    assert attrs and attrs[0]["secondary"]["namespace"] == "default" and attrs[0]["secondary"]["pod"] == pod.name
    assert attrs[0]["secondary"]["node"] == "cni-node1"
    # CHECK (from 0.4.0 on), then DEL; the log names the container on every line
    check_conf = dict(conf, prevResult=res)
    check = pod.call("CHECK", check_conf)
    if version == "0.3.1":
        assert check.rc == 1 and check.json["code"] == 1, check
    else:
        assert check.rc == 0, check
    dele = pod.call("DEL", dict(conf, prevResult=res))
    assert dele.rc == 0 and not dele.stdout.strip(), dele
    assert_gone(cni_node, pod)
    with open(cni_node.log_path) as handle:
        lines = [line for line in handle if pod.container_id in line]
    assert any(" ADD " in line or "ADD netns" in line for line in lines)
    assert any("DEL done" in line for line in lines)


def test_version_answers_every_spec_version(cni_node):
    for plugin in ("calico", "calico-ipam"):
        res = call(os.path.join(cni_node.bindir, plugin), cni_node.name, {"cniVersion": "0.4.0"},
                   cni_env("VERSION", netns=None, ifname=""))
        assert res.rc == 0, res
        assert res.json["cniVersion"] == "0.4.0"
        assert {"0.3.1", "0.4.0", "1.0.0", "1.1.0"} <= set(res.json["supportedVersions"])
    res = call(cni_node.calico, cni_node.name, {"cniVersion": "9.9.9", "name": "x", "type": "calico"},
               cni_env("ADD", "c", "/run/netns/none"))
    assert res.rc == 1 and res.json["code"] == 1 and "9.9.9" in res.json["msg"], res


def test_del_twice_and_del_of_unknown_container(cni_node, pods):
    pod = pods()
    conf = cni_node.conf()
    add = pod.call("ADD", conf)
    assert add.rc == 0, add
    # containerd: DEL on stop with the netns and prevResult, DEL again on remove without either
    first = pod.call("DEL", dict(conf, prevResult=add.json))
    assert first.rc == 0, first
    second = pod.call("DEL", conf, netns=False)
    assert second.rc == 0, second
    assert_gone(cni_node, pod)
    unknown = pods("never-added")
    res = unknown.call("DEL", conf, netns=False)
    assert res.rc == 0 and not res.stdout.strip(), res


def test_del_leaves_a_newer_sandbox_of_the_same_pod_alone(cni_node, pods):
    old = pods("same")
    conf = cni_node.conf()
    assert old.call("ADD", conf).rc == 0
    new = pods("same")
    new.name, new.host_ifname = old.name, old.host_ifname
    assert old.call("DEL", conf, netns=False).rc == 0
    add = new.call("ADD", conf)
    assert add.rc == 0, add
    # a late DEL of the old sandbox must not take the new sandbox's veth or endpoint
    assert old.call("DEL", conf, netns=False).rc == 0
    state = node_state(cni_node, new)
    assert state["veth"] and state["handle"] and len(state["weps"]) == 1, state
    assert new.call("CHECK", dict(conf, prevResult=add.json)).rc == 0


BAD_FIELDS = [
    ("name", "bad name!", 7, "name"),
    ("datastore_type", "consul", 7, "datastore_type"),
    ("etcd_endpoints", "ftp://127.0.0.1:1", 7, "etcd_endpoints"),
    ("etcd_endpoints", None, 7, "etcd_endpoints"),
    ("etcd_key_file", "/nonexistent/key.pem", 7, "etcd_key_file"),
    ("etcd_cert_file", "/nonexistent/cert.pem", 7, "etcd_cert_file"),
    ("etcd_ca_cert_file", "/nonexistent/ca.pem", 7, "etcd_ca_cert_file"),
    ("mtu", 40, 7, "mtu"),
    ("mtu", "lots", 7, "mtu"),
    ("nodename", "-bad-", 7, "nodename"),
    ("log_level", "chatty", 7, "log_level"),
    ("log_file_path", "relative/cni.log", 7, "log_file_path"),
    ("ipam", {"type": ""}, 7, "ipam.type"),
    ("ipam", {"type": "calico-ipam", "assign_ipv4": "maybe"}, 7, "ipam.assign_ipv4"),
    ("ipam", {"type": "calico-ipam", "ipv4_pools": ["10.77.0.0/33"]}, 7, "ipam.ipv4_pools"),
    ("ipam", {"type": "calico-ipam", "ipv4_pools": ["10.99.0.0/16"]}, 7, "ipam.ipv4_pools"),
    ("kubernetes", {"kubeconfig": 5}, 7, "kubernetes.kubeconfig"),
    ("cniVersion", "0.2.0", 1, "cniVersion"),
]


@pytest.mark.parametrize("field,value,code,named", BAD_FIELDS, ids=["%s=%s" % (f[0], f[1]) for f in BAD_FIELDS])
def test_bad_config_fails_naming_the_field_and_leaves_nothing(cni_node, pods, field, value, code, named):
    pod = pods("bad")
    conf = cni_node.conf()
    if value is None:
        conf.pop(field)
    else:
        conf[field] = value
    res = pod.call("ADD", conf)
    assert res.rc == 1 and res.json["code"] == code, res
    assert named in res.json["msg"], res
    assert_gone(cni_node, pod)


def test_bad_stdin_and_env(cni_node, pods):
    pod = pods("env")
    res = call(cni_node.calico, cni_node.name, "{not json", pod.env("ADD"))
    assert res.rc == 1 and res.json["code"] == 6, res
    env = pod.env("ADD")
    del env["CNI_CONTAINERID"]
    res = call(cni_node.calico, cni_node.name, cni_node.conf(), env)
    assert res.rc == 1 and res.json["code"] == 4 and "CNI_CONTAINERID" in res.json["msg"], res
    res = call(cni_node.calico, cni_node.name, cni_node.conf(), dict(pod.env("ADD"), CNI_NETNS="/run/netns/nope"))
    assert res.rc == 1 and res.json["code"] == 3 and "/run/netns/nope" in res.json["msg"], res
    assert_gone(cni_node, pod)


def test_kubernetes_datastore_fails_add_clearly(cni_node, pods):
    pod = pods("kdd")
    conf = cni_node.conf(datastore_type="kubernetes", etcd_endpoints=None)
    res = pod.call("ADD", conf)
    assert res.rc == 1 and res.json["code"] == 7, res
    assert "datastore_type kubernetes" in res.json["msg"] and "API server" in res.json["msg"], res
    assert_gone(cni_node, pod)
    assert pod.call("DEL", conf).rc == 0
    status = call(cni_node.calico, cni_node.name, dict(conf, cniVersion="1.1.0"),
                  cni_env("STATUS", netns=None, ifname=""))
    assert status.rc == 1 and status.json["code"] == 50, status


def test_etcd_down_fails_add_and_leaves_nothing(cni_node, pods):
    pod = pods("etcd-down")
    import socket
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    conf = cni_node.conf(etcd_endpoints="https://127.0.0.1:%d" % port)
    res = pod.call("ADD", conf)
    assert res.rc == 1 and res.json["code"] == 11, res
    assert "etcd" in res.json["msg"] and str(port) in res.json["msg"], res
    assert_gone(cni_node, pod)
    status = call(cni_node.calico, cni_node.name, dict(conf, cniVersion="1.1.0"),
                  cni_env("STATUS", netns=None, ifname=""))
    assert status.rc == 1 and status.json["code"] == 50, status


def test_failure_after_the_veth_undoes_everything(cni_node, pods):
    """eth0 already exists in the pod (an unrelated veth end), so the veth step fails after IPAM assigned."""
    pod = pods("undo")
    subprocess.run(["ip", "-n", pod.netns_name, "link", "add", "eth0", "type", "veth", "peer", "name", "other0"],
                   check=True)
    res = pod.call("ADD", cni_node.conf())
    assert res.rc == 1 and res.json["code"] == 101, res
    assert "eth0" in res.json["msg"], res
    assert_gone(cni_node, pod)


def test_failure_after_the_endpoint_write_began_undoes_it_too(cni_node, pods):
    """The pod's gateway route slot (169.254.1.1/32) is held by a route that is not ours, so a step after the
    veth fails while the WorkloadEndpoint write runs beside it: the endpoint is removed with the rest."""
    pod = pods("wepundo")
    for cmd in (["link", "add", "other0", "type", "veth", "peer", "name", "other1"], ["link", "set", "other0", "up"],
                ["route", "add", "169.254.1.1/32", "dev", "other0", "proto", "static"]):
        subprocess.run(["ip", "-n", pod.netns_name] + cmd, check=True)
    res = pod.call("ADD", cni_node.conf())
    assert res.rc == 1, res
    assert "169.254.1.1" in res.json["msg"] and "not ours" in res.json["msg"], res
    assert_gone(cni_node, pod)
    with open(cni_node.log_path) as handle:
        undone = [line for line in handle if pod.container_id in line and "undone" in line]
    assert undone and "delete WorkloadEndpoint" in undone[-1], undone   # it had been written, then removed


def test_killed_mid_add_then_del_is_clean(cni_node, pods):
    pod = pods("killed")
    conf = cni_node.conf()
    proc = subprocess.Popen(["nsenter", "--net=/run/netns/%s" % cni_node.name, cni_node.calico],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=pod.env("ADD"), text=True)
    proc.stdin.write(json.dumps(conf))
    proc.stdin.close()
    deadline = time.time() + 60
    seen = False
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists("/proc/%d" % proc.pid) and subprocess.run(
                ["ip", "-n", cni_node.name, "link", "show", "dev", pod.host_ifname],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode == 0:
            seen = True
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(30)
    proc.stdout.close()
    proc.stderr.close()
    assert seen, "the plugin finished before its veth could be seen; cannot test a kill mid-ADD"
    assert proc.returncode == -signal.SIGKILL
    state = node_state(cni_node, pod)
    assert state["veth"] and state["handle"], state   # half-built, as a killed plugin leaves it
    res = pod.call("DEL", conf, netns=False)
    assert res.rc == 0, res
    assert_gone(cni_node, pod)


def test_eight_parallel_adds_on_one_node(cni_node, pods):
    group = [pods("par") for _index in range(8)]
    conf = cni_node.conf()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda p: p.call("ADD", conf), group))
    for res in results:
        assert res.rc == 0, res
    ips = [r.json["ips"][0]["address"] for r in results]
    assert len(set(ips)) == 8, ips
    handles = cni_node.handles()
    for pod in group:
        assert "k8s-pod-network.%s" % pod.container_id in handles
    blocks = cni_node.keys("/calico/ipam/v2/assignment/ipv4/block/")
    owners = [a["handle_id"] for v in blocks.values() for a in json.loads(v)["attributes"]]
    for pod in group:
        assert owners.count("k8s-pod-network.%s" % pod.container_id) == 1
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda p: p.call("DEL", conf), group))
    assert all(r.rc == 0 for r in results), [r for r in results if r.rc != 0]
    for pod in group:
        assert_gone(cni_node, pod)


def test_gc_releases_what_is_not_valid_and_status(cni_node, pods):
    keep, drop = pods("gc-keep"), pods("gc-drop")
    conf = cni_node.conf("1.1.0")
    assert keep.call("ADD", conf).rc == 0
    assert drop.call("ADD", conf).rc == 0
    gc_conf = dict(conf, **{"cni.dev/valid-attachments": [{"containerID": keep.container_id, "ifname": "eth0"}]})
    res = call(cni_node.calico, cni_node.name, gc_conf, cni_env("GC", netns=None, ifname=""))
    assert res.rc == 0, res
    assert_gone(cni_node, drop)
    state = node_state(cni_node, keep)
    assert state["veth"] and state["handle"] and state["weps"], state
    status = call(cni_node.calico, cni_node.name, conf, cni_env("STATUS", netns=None, ifname=""))
    assert status.rc == 0 and not status.stdout.strip(), status
    old = call(cni_node.calico, cni_node.name, cni_node.conf("1.0.0"), cni_env("GC", netns=None, ifname=""))
    assert old.rc == 1 and old.json["code"] == 1, old


def test_calico_ipam_as_its_own_ipam_plugin(cni_node, pods):
    pod = pods("ipam")
    ipam = os.path.join(cni_node.bindir, "calico-ipam")
    conf = cni_node.conf("1.0.0")
    res = call(ipam, cni_node.name, conf, pod.env("ADD"))
    assert res.rc == 0, res
    assert res.json["ips"][0]["address"].startswith("10.77.") and "interfaces" not in res.json
    assert node_state(cni_node, pod)["handle"]
    again = call(ipam, cni_node.name, conf, pod.env("ADD"))
    assert again.json["ips"] == res.json["ips"]
    assert call(ipam, cni_node.name, dict(conf, prevResult=res.json), pod.env("CHECK")).rc == 0
    assert call(ipam, cni_node.name, conf, pod.env("DEL")).rc == 0
    assert not node_state(cni_node, pod)["handle"]
    assert call(ipam, cni_node.name, dict(conf, prevResult=res.json), pod.env("CHECK")).rc == 1


def test_check_finds_a_broken_pod(cni_node, pods):
    pod = pods("broken")
    conf = cni_node.conf()
    add = pod.call("ADD", conf)
    assert add.rc == 0, add
    subprocess.run(["ip", "-n", pod.netns_name, "route", "del", "default"], check=True)
    subprocess.run(["ip", "netns", "exec", cni_node.name, "sh", "-c",
                    "echo 0 > /proc/sys/net/ipv4/conf/%s/proxy_arp" % pod.host_ifname], check=True)
    res = pod.call("CHECK", dict(conf, prevResult=add.json))
    assert res.rc == 1 and res.json["code"] == 100, res
    assert "0.0.0.0/0 via 169.254.1.1" in res.json["msg"] and "proxy_arp" in res.json["msg"], res


@pytest.fixture(scope="module")
def venv_plugin(cni_node):
    """The same plugin run by the venv's Python (pyroute2 0.9)."""
    return build_plugin(os.path.join(cni_node.workdir, "bin-venv"), sys.executable)


def test_add_check_del_with_pyroute2_09(cni_node, pods, venv_plugin):
    pod = pods("venv")
    plugin = os.path.join(venv_plugin, "calico")
    conf = cni_node.conf("1.0.0")
    add = pod.call("ADD", conf, plugin=plugin)
    assert add.rc == 0, add
    assert pod.call("CHECK", dict(conf, prevResult=add.json), plugin=plugin).rc == 0
    assert pod.call("DEL", conf, plugin=plugin).rc == 0
    assert_gone(cni_node, pod)


def _ipam_log_lines(node, container_id):
    with open(node.log_path) as handle:
        return [line for line in handle if "] calico-ipam ContainerID=%s" % container_id in line]


def test_calico_ipam_runs_in_process_only_when_it_is_this_plugin(cni_node, pods, tmp_path):
    """CNI_PATH's calico-ipam is our link: no second process. Another calico-ipam file: exec'd, as Calico does."""
    conf = cni_node.conf("1.0.0")
    ours = pods("ipamours")
    env = ours.env("ADD", path=cni_node.bindir)
    assert call(cni_node.calico, cni_node.name, conf, env).rc == 0
    assert not _ipam_log_lines(cni_node, ours.container_id)
    env["CNI_COMMAND"] = "DEL"
    assert call(cni_node.calico, cni_node.name, conf, env).rc == 0
    other_dir = build_plugin(str(tmp_path / "other"), pyc=True)   # another file (other bytes), not a link to ours
    os.unlink(os.path.join(other_dir, "calico-ipam"))
    os.rename(os.path.join(other_dir, "calico"), os.path.join(other_dir, "calico-ipam"))
    theirs = pods("ipamexec")
    env = theirs.env("ADD", path=other_dir)
    add = call(cni_node.calico, cni_node.name, conf, env)
    assert add.rc == 0, add
    assert _ipam_log_lines(cni_node, theirs.container_id), "calico-ipam was not exec'd"
    assert node_state(cni_node, theirs)["handle"]
    env["CNI_COMMAND"] = "DEL"
    assert call(cni_node.calico, cni_node.name, conf, env).rc == 0
    assert_gone(cni_node, theirs)
