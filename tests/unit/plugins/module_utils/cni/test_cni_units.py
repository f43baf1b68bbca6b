# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure parts of the CNI plugin: config and environment parsing, result shapes, WorkloadEndpoint names."""

from __future__ import annotations

import io
import json

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.cni import _spec as spec
from ansible_collections.podnet.calico.plugins.module_utils.cni import _wep as wep
from ansible_collections.podnet.calico.plugins.module_utils.cni._config import Env, NetConf, read_stdin
from ansible_collections.podnet.calico.plugins.module_utils.cni._main import main

GOOD = {"cniVersion": "1.0.0", "name": "k8s-pod-network", "type": "calico", "etcd_endpoints": "http://127.0.0.1:2379",
        "ipam": {"type": "calico-ipam"}, "log_file_path": ""}


@pytest.mark.parametrize("node,orch,workload,endpoint,expected", [
    ("node1", "k8s", "nginx", "eth0", "node1-k8s-nginx-eth0"),
    ("cri-node1", "k8s", "web-1", "eth0", "cri--node1-k8s-web--1-eth0"),
    ("n", "cni", "abc-def", "eth0", "n-cni-abc--def-eth0"),
])
def test_wep_names_double_dashes(node, orch, workload, endpoint, expected):
    assert wep.wep_name(node, orch, workload, endpoint) == expected


def test_wep_name_refuses_leading_dash():
    with pytest.raises(ValueError, match="node"):
        wep.wep_name("-n", "k8s", "p", "eth0")


def test_wep_record_layout():
    rec = wep.new_wep("default", "n-k8s-p-eth0", "n", "k8s", "p", "cid", "eth0", "cali123", "ee:ee:ee:ee:ee:ee",
                      ["10.0.0.1/32"], "net")
    assert wep.wep_key("default", "n-k8s-p-eth0") == \
        "/calico/resources/v3/projectcalico.org/workloadendpoints/default/n-k8s-p-eth0"
    assert rec["kind"] == "WorkloadEndpoint" and rec["apiVersion"] == "projectcalico.org/v3"
    assert rec["spec"]["profiles"] == ["kns.default", "ksa.default.default"]
    assert rec["metadata"]["labels"]["projectcalico.org/orchestrator"] == "k8s"


@pytest.mark.parametrize("version,has_version", [("0.3.1", True), ("0.4.0", True), ("1.0.0", False), ("1.1.0", False)])
def test_ip_entry_shape_per_version(version, has_version):
    entry = spec.ip_entry(version, "10.0.0.1/32", interface=1)
    assert ("version" in entry) == has_version and entry["interface"] == 1


@pytest.mark.parametrize("field,value,named", [
    ("mtu", 70000, "mtu"), ("mtu", True, "mtu"), ("datastore_type", "x", "datastore_type"),
    ("etcd_endpoints", 5, "etcd_endpoints"), ("log_level", "loud", "log_level"),
    ("ipam", "calico-ipam", "ipam"), ("nodename", "a b", "nodename"),
])
def test_bad_fields_are_named(field, value, named):
    conf = dict(GOOD, **{field: value})
    with pytest.raises(spec.CNIError) as info:
        NetConf(conf).parse()
    assert info.value.code == spec.INVALID_CONFIG and named in info.value.msg


def test_good_config_and_defaults():
    conf = NetConf(dict(GOOD, etcd_endpoints="http://a:1, https://b:2")).parse()
    assert conf.etcd_endpoints == ["http://a:1", "https://b:2"] and conf.mtu == 1500
    assert conf.datastore_type == "etcdv3" and conf.assign_ipv4 is True


@pytest.mark.parametrize("environ,code,named", [
    ({"CNI_COMMAND": "JUMP"}, 4, "CNI_COMMAND"),
    ({"CNI_COMMAND": "ADD", "CNI_IFNAME": "eth0", "CNI_NETNS": "/x"}, 4, "CNI_CONTAINERID"),
    ({"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c", "CNI_NETNS": "/x", "CNI_IFNAME": "a/b"}, 4, "CNI_IFNAME"),
    ({"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c", "CNI_IFNAME": "eth0"}, 4, "CNI_NETNS"),
    ({"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c", "CNI_IFNAME": "eth0", "CNI_ARGS": "novalue"}, 4, "CNI_ARGS"),
])
def test_bad_environment(environ, code, named):
    with pytest.raises(spec.CNIError) as info:
        Env(environ)
    assert info.value.code == code and named in info.value.msg


def test_env_args_and_del_without_netns():
    env = Env({"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c1", "CNI_IFNAME": "eth0",
               "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p"})
    assert env.k8s_namespace == "ns" and env.k8s_pod == "p" and env.netns == ""


def test_stdin_must_be_a_json_object():
    with pytest.raises(spec.CNIError) as info:
        read_stdin(io.StringIO("[1]"))
    assert info.value.code == spec.DECODE_FAILURE


def test_main_version_and_error_object():
    out = io.StringIO()
    assert main("calico", {"CNI_COMMAND": "VERSION"}, io.StringIO('{"cniVersion": "0.4.0"}'), out) == 0
    assert json.loads(out.getvalue())["cniVersion"] == "0.4.0"
    out = io.StringIO()
    assert main("calico-ipam", {"CNI_COMMAND": "CHECK"}, io.StringIO(json.dumps(dict(GOOD, cniVersion="0.3.1"))),
                out) == 1
    err = json.loads(out.getvalue())
    assert err["code"] == 4 and "CNI_CONTAINERID" in err["msg"]
