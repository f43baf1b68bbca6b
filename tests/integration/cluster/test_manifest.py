# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rendered Calico manifest, for both datastores, validated against two Kubernetes versions.

The CRD file of the Kubernetes datastore is one these tests write (conftest.TEST_CRD) and serve
from 127.0.0.1; the role downloads it with its sha256 like it downloads Calico's release file.
"""

from __future__ import annotations

import base64
import json
import os
import sys

import kubernetes_validate
import pytest
import yaml

from cluster_testlib import FILES, TEST_CRD

# Two Kubernetes versions the installed kubernetes-validate ships schemas for.
K8S_VERSIONS = ["1.30.0", "1.34.0"]


RENDER = os.path.join(FILES, "render.yml")


def render_vars(out, **extra):
    """The variables of a render-only run into the directory out."""
    evars = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "calico_manifest_render_only": True,
        "calico_manifest_dir": str(out),
        "calico_manifest_pool_cidr": "10.244.0.0/16",
        "calico_manifest_service_cidr": "10.96.0.0/12",
        "calico_manifest_mtu": 1440,
    }
    evars.update(extra)
    return evars


def render(run_playbook, tmp_path, **extra):
    out = tmp_path / "manifest"
    result = run_playbook(RENDER, extra_vars=render_vars(out, **extra))
    docs = []
    for name in ("crds.yaml", "calico.yaml"):
        path = out / name
        if path.exists():
            with open(path) as handle:
                docs.extend(doc for doc in yaml.safe_load_all(handle) if doc)
    return result, out, docs


def find(docs, kind, name):
    found = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, "%s/%s: %d objects" % (kind, name, len(found))
    return found[0]


def env_of(container):
    out = {}
    for item in container["env"]:
        out[item["name"]] = item.get("value", item.get("valueFrom"))
    return out


def validate_all(docs):
    for version in K8S_VERSIONS:
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)


@pytest.fixture
def etcd_tls(tmp_path):
    files = {}
    for name in ("ca", "cert", "key"):
        path = tmp_path / ("etcd-%s.pem" % name)
        path.write_text("-----BEGIN TEST %s-----\nAAAA\n-----END TEST %s-----\n" % (name.upper(), name.upper()))
        files[name] = str(path)
    return files


def test_etcd_datastore(run_playbook, tmp_path, etcd_tls):
    result, out, docs = render(
        run_playbook, tmp_path,
        calico_manifest_datastore="etcd",
        calico_manifest_etcd_endpoints=["https://10.89.0.11:2379", "https://10.89.0.12:2379"],
        calico_manifest_etcd_ca_file=etcd_tls["ca"],
        calico_manifest_etcd_cert_file=etcd_tls["cert"],
        calico_manifest_etcd_key_file=etcd_tls["key"],
        calico_manifest_ipip_mode="Never",
        calico_manifest_vxlan_mode="Always",
        calico_manifest_mtu=1450,
        calico_manifest_block_size=28,
        calico_manifest_ip_autodetection_method="interface=eth0",
        calico_manifest_version="v3.29.1",
        calico_manifest_image_registry="registry.example.internal:5000",
    )
    assert not (out / "crds.yaml").exists()
    assert oct((out / "calico.yaml").stat().st_mode & 0o777) == "0o600"
    validate_all(docs)
    assert not [doc for doc in docs if doc["kind"] == "CustomResourceDefinition"]

    secret = find(docs, "Secret", "calico-etcd-secrets")
    assert secret["metadata"]["namespace"] == "kube-system"
    for key, name in (("etcd-ca", "ca"), ("etcd-cert", "cert"), ("etcd-key", "key")):
        with open(etcd_tls[name], "rb") as handle:
            assert base64.b64decode(secret["data"][key]) == handle.read()

    config = find(docs, "ConfigMap", "calico-config")["data"]
    assert config["etcd_endpoints"] == "https://10.89.0.11:2379,https://10.89.0.12:2379"
    assert config["etcd_ca"] == "/calico-secrets/etcd-ca"
    assert config["etcd_cert"] == "/calico-secrets/etcd-cert"
    assert config["etcd_key"] == "/calico-secrets/etcd-key"
    assert config["calico_backend"] == "vxlan"
    assert config["veth_mtu"] == "1450"
    # The MTU placeholder stands bare: install-cni puts the number there, not a string.
    assert '"mtu": __CNI_MTU__,' in config["cni_network_config"]
    cni = json.loads(config["cni_network_config"].replace("__CNI_MTU__", "1450"))
    assert cni["plugins"][0]["type"] == "calico"
    assert cni["plugins"][0]["mtu"] == 1450
    assert cni["plugins"][0]["datastore_type"] == "etcdv3"
    assert cni["plugins"][0]["etcd_endpoints"] == "__ETCD_ENDPOINTS__"
    assert cni["plugins"][0]["etcd_cert_file"] == "__ETCD_CERT_FILE__"
    assert cni["plugins"][0]["nodename"] == "__KUBERNETES_NODE_NAME__"
    assert cni["plugins"][0]["ipam"] == {"type": "calico-ipam"}
    assert [plugin["type"] for plugin in cni["plugins"]] == ["calico", "portmap", "bandwidth"]

    daemonset = find(docs, "DaemonSet", "calico-node")
    spec = daemonset["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["install-cni", "mount-bpffs"]
    assert [c["name"] for c in spec["containers"]] == ["calico-node"]
    assert spec["containers"][0]["image"] == "registry.example.internal:5000/calico/node:v3.29.1"
    assert spec["initContainers"][0]["image"] == "registry.example.internal:5000/calico/cni:v3.29.1"
    env = env_of(spec["containers"][0])
    assert env["DATASTORE_TYPE"] == "etcdv3"
    assert env["ETCD_ENDPOINTS"] == {"configMapKeyRef": {"name": "calico-config", "key": "etcd_endpoints"}}
    assert env["ETCD_KEY_FILE"] == {"configMapKeyRef": {"name": "calico-config", "key": "etcd_key"}}
    assert env["CALICO_IPV4POOL_CIDR"] == "10.244.0.0/16"
    assert env["CALICO_IPV4POOL_BLOCK_SIZE"] == "28"
    assert env["CALICO_IPV4POOL_IPIP"] == "Never"
    assert env["CALICO_IPV4POOL_VXLAN"] == "Always"
    assert env["IP_AUTODETECTION_METHOD"] == "interface=eth0"
    assert env["CALICO_K8S_NODE_REF"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert env["NODENAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    install_env = env_of(spec["initContainers"][0])
    assert install_env["CNI_CONF_NAME"] == "10-calico.conflist"
    assert install_env["CNI_NET_DIR"] == "/etc/cni/net.d"
    assert install_env["KUBERNETES_NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert install_env["CNI_NETWORK_CONFIG"] == {"configMapKeyRef": {"name": "calico-config", "key": "cni_network_config"}}
    assert {v["name"]: v for v in spec["volumes"]}["etcd-certs"]["secret"]["secretName"] == "calico-etcd-secrets"
    assert "-bird-ready" not in spec["containers"][0]["readinessProbe"]["exec"]["command"]

    controllers = find(docs, "Deployment", "calico-kube-controllers")
    cenv = env_of(controllers["spec"]["template"]["spec"]["containers"][0])
    assert cenv["ENABLED_CONTROLLERS"] == "policy,namespace,serviceaccount,workloadendpoint,node"
    assert cenv["ETCD_CA_CERT_FILE"] == {"configMapKeyRef": {"name": "calico-config", "key": "etcd_ca"}}
    for kind, name in (("ServiceAccount", "calico-node"), ("ServiceAccount", "calico-kube-controllers"),
                       ("ServiceAccount", "calico-cni-plugin"), ("ClusterRole", "calico-cni-plugin"),
                       ("ClusterRoleBinding", "calico-cni-plugin"), ("PodDisruptionBudget", "calico-kube-controllers"),
                       ("ClusterRole", "calico-node"), ("ClusterRoleBinding", "calico-node"),
                       ("ClusterRole", "calico-kube-controllers"), ("ClusterRoleBinding", "calico-kube-controllers")):
        find(docs, kind, name)
    assert_cni_plugin_rbac(docs)
    assert_cni_conf_dir_mounted(spec, "/etc/cni/net.d")


def test_etcd_manifest_key_hidden_rerun_unchanged_check_writes_nothing(run_playbook, tmp_path, etcd_tls):
    """The manifest with the etcd key: no key text in a --diff -v run, a rerun changes nothing, and a
    check-mode run into a new directory creates neither the directory nor the file."""
    marker = "KEYMARKER%d" % os.getpid()
    with open(etcd_tls["key"], "w") as handle:
        handle.write("-----BEGIN TEST KEY-----\n%s\n-----END TEST KEY-----\n" % marker)
    with open(etcd_tls["key"], "rb") as handle:
        key_b64 = base64.b64encode(handle.read()).decode()
    out = tmp_path / "manifest"
    evars = render_vars(
        out,
        calico_manifest_datastore="etcd",
        calico_manifest_etcd_endpoints=["https://10.89.0.11:2379"],
        calico_manifest_etcd_ca_file=etcd_tls["ca"],
        calico_manifest_etcd_cert_file=etcd_tls["cert"],
        calico_manifest_etcd_key_file=etcd_tls["key"],
    )

    check = run_playbook(RENDER, extra_vars=evars, check=True, diff=True)
    assert check.changed > 0, check
    assert not out.exists(), "check mode created %s" % out

    first = run_playbook(RENDER, extra_vars=evars, diff=True, env={"ANSIBLE_VERBOSITY": "1"})
    assert first.changed > 0, first
    assert key_b64 in (out / "calico.yaml").read_text()
    assert oct(out.stat().st_mode & 0o777) == "0o700"
    for result in (check, first):
        assert marker not in result.stdout + result.stderr
        assert key_b64 not in result.stdout + result.stderr

    again = run_playbook(RENDER, extra_vars=evars, diff=True)
    assert again.changed == 0, again.changed_tasks()


def assert_cni_plugin_rbac(docs):
    """install-cni and calico-node may request tokens of calico-cni-plugin, and of nothing else."""
    node_role = find(docs, "ClusterRole", "calico-node")
    token_rules = [rule for rule in node_role["rules"] if "serviceaccounts/token" in rule["resources"]]
    assert token_rules == [{"apiGroups": [""], "resources": ["serviceaccounts/token"],
                            "resourceNames": ["calico-cni-plugin"], "verbs": ["create"]}]
    binding = find(docs, "ClusterRoleBinding", "calico-cni-plugin")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "calico-cni-plugin", "namespace": "kube-system"}]
    assert binding["roleRef"]["name"] == "calico-cni-plugin"


def assert_cni_conf_dir_mounted(spec, host_dir):
    """calico-node mounts the CNI conf dir where it refreshes the CNI kubeconfig's token."""
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["cni-net-dir"]["hostPath"]["path"] == host_dir
    node = [c for c in spec["containers"] if c["name"] == "calico-node"][0]
    mounts = {m["name"]: m for m in node["volumeMounts"]}
    assert mounts["cni-net-dir"]["mountPath"] == "/host/etc/cni/net.d"
    assert not mounts["cni-net-dir"].get("readOnly")


def test_kubernetes_datastore(run_playbook, tmp_path, local_http):
    sha = local_http.add("crds.yaml", TEST_CRD)
    result, out, docs = render(
        run_playbook, tmp_path,
        calico_manifest_datastore="kubernetes",
        calico_manifest_crds_url=local_http.url("crds.yaml"),
        calico_manifest_crds_sha256=sha,
        calico_manifest_ipip_mode="CrossSubnet",
    )
    validate_all(docs)
    crd = find(docs, "CustomResourceDefinition", "ippools.crd.projectcalico.org")
    assert crd["spec"]["group"] == "crd.projectcalico.org"
    assert not [doc for doc in docs if doc["kind"] == "Secret"]
    config = find(docs, "ConfigMap", "calico-config")["data"]
    assert "etcd_endpoints" not in config
    assert config["calico_backend"] == "bird"
    cni = json.loads(config["cni_network_config"].replace("__CNI_MTU__", "1440"))
    assert cni["plugins"][0]["datastore_type"] == "kubernetes"
    assert "etcd_endpoints" not in cni["plugins"][0]
    spec = find(docs, "DaemonSet", "calico-node")["spec"]["template"]["spec"]
    env = env_of(spec["containers"][0])
    assert env["DATASTORE_TYPE"] == "kubernetes"
    assert "ETCD_ENDPOINTS" not in env
    assert env["CALICO_IPV4POOL_IPIP"] == "CrossSubnet"
    assert env["CALICO_IPV4POOL_VXLAN"] == "Never"
    assert env["CALICO_IPV4POOL_BLOCK_SIZE"] == "26"
    assert env["CLUSTER_TYPE"] == "k8s,bgp"
    assert "CALICO_K8S_NODE_REF" not in env
    assert spec["containers"][0]["image"] == "docker.io/calico/node:v3.29.1"
    assert [c["name"] for c in spec["initContainers"]] == ["upgrade-ipam", "install-cni", "mount-bpffs"]
    assert "-bird-ready" in spec["containers"][0]["readinessProbe"]["exec"]["command"]
    node_role = find(docs, "ClusterRole", "calico-node")
    assert any("crd.projectcalico.org" in rule["apiGroups"] for rule in node_role["rules"])
    # Felix lists and watches the admin network policies before it reports in sync.
    anp = [rule for rule in node_role["rules"] if "adminnetworkpolicies" in rule["resources"]]
    assert anp and anp[0]["apiGroups"] == ["policy.networking.k8s.io"] and set(anp[0]["verbs"]) == {"list", "watch"}
    assert_cni_plugin_rbac(docs)
    assert_cni_conf_dir_mounted(spec, "/etc/cni/net.d")
    controllers = find(docs, "Deployment", "calico-kube-controllers")
    assert env_of(controllers["spec"]["template"]["spec"]["containers"][0])["ENABLED_CONTROLLERS"] == "node"

    # Again: nothing changes, nothing is downloaded again.
    again, _out, _docs = render(
        run_playbook, tmp_path,
        calico_manifest_datastore="kubernetes",
        calico_manifest_crds_url=local_http.url("crds.yaml"),
        calico_manifest_crds_sha256=sha,
        calico_manifest_ipip_mode="CrossSubnet",
    )
    assert again.changed == 0, again.changed_tasks()


def test_custom_cni_dirs(run_playbook, tmp_path, local_http):
    """A conf dir other than /etc/cni/net.d: mounted from the host and passed to install-cni as CNI_NET_DIR."""
    sha = local_http.add("crds.yaml", TEST_CRD)
    _result, _out, docs = render(
        run_playbook, tmp_path,
        calico_manifest_crds_url=local_http.url("crds.yaml"),
        calico_manifest_crds_sha256=sha,
        calico_manifest_cni_conf_dir="/var/lib/cni/net.d",
        calico_manifest_cni_bin_dir="/usr/libexec/cni",
    )
    validate_all(docs)
    spec = find(docs, "DaemonSet", "calico-node")["spec"]["template"]["spec"]
    install = [c for c in spec["initContainers"] if c["name"] == "install-cni"][0]
    assert env_of(install)["CNI_NET_DIR"] == "/var/lib/cni/net.d"
    assert_cni_conf_dir_mounted(spec, "/var/lib/cni/net.d")
    assert {v["name"]: v for v in spec["volumes"]}["cni-bin-dir"]["hostPath"]["path"] == "/usr/libexec/cni"


def test_crd_checksum_mismatch_fails(run_playbook, tmp_path, local_http):
    local_http.add("crds.yaml", TEST_CRD)
    result = run_playbook(os.path.join(FILES, "render.yml"), expect_fail=True, extra_vars={
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "calico_manifest_render_only": True,
        "calico_manifest_dir": str(tmp_path / "manifest"),
        "calico_manifest_datastore": "kubernetes",
        "calico_manifest_crds_url": local_http.url("crds.yaml"),
        "calico_manifest_crds_sha256": "0" * 64,
    })
    assert any("checksum" in msg.lower() for msg in result.failures()), result.failures()
    assert not (tmp_path / "manifest" / "crds.yaml").exists()
