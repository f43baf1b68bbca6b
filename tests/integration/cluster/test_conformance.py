# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Conformance of the rendered manifest with the Calico release's own manifests, object by object.

The upstream manifests are test data, read from a directory (never copied into the collection):
$PODNET_CALICO_REFERENCE, else the first shared/reference/calico-<version> found beside the
checkout or one of its parent directories (a git worktree sits deeper than the main checkout).
Without one the tests skip and say why. $PODNET_CALICO_VERSION (default v3.29.1) names the release:
it sets calico_manifest_version and the directory name looked for.

Each case renders our manifest with the settings the upstream file was generated with and compares:
every upstream object has a counterpart (kind, namespace, name) and nothing else is added; RBAC as
the set of (apiGroup, resource, resourceName, verb) permissions; bindings; the pod templates
(containers, commands, env names and values, envFrom, volume mounts, volumes, probes, lifecycle,
security contexts, tolerations, strategies); the ConfigMap keys; the Secret keys; and the CNI
network config as install-cni writes it on a node (its placeholders substituted the way Calico's
install-cni does, listed in INSTALL_CNI below). For the Kubernetes datastore, the CRDs the role
downloads (the release's crds.yaml, served from 127.0.0.1) against the CRDs inside calico.yaml.

Every intended difference is in INTENDED, with its reason; a difference not listed fails, and a
listed difference no case shows fails too (the list stays true).
"""

from __future__ import annotations

import json
import os
import sys

import pytest
import yaml

from cluster_testlib import FILES, HttpServer
from podnet_testlib import run_playbook

from ansible_collections.podnet.calico.plugins.module_utils.calico._cniconf import calico_conflist

# The release to compare with: the collection's default, or the one a user is checking.
CALICO_VERSION = os.environ.get("PODNET_CALICO_VERSION", "v3.29.1")
REFERENCE_ENV = "PODNET_CALICO_REFERENCE"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
NODE = "worker-1"

ETCD = "calico-etcd.yaml"
KDD = "calico.yaml"
KDD_VXLAN = "calico-vxlan.yaml"
BOTH = (ETCD, KDD, KDD_VXLAN)
KDD_ONLY = (KDD, KDD_VXLAN)

# The settings each upstream file was generated with (its defaults), in our variables.
CASES = {
    ETCD: {"calico_manifest_datastore": "etcd", "calico_manifest_etcd_endpoints": ["http://10.0.0.1:2379"],
           "calico_manifest_ipip_mode": "Always", "calico_manifest_vxlan_mode": "Never"},
    KDD: {"calico_manifest_datastore": "kubernetes",
          "calico_manifest_ipip_mode": "Always", "calico_manifest_vxlan_mode": "Never"},
    KDD_VXLAN: {"calico_manifest_datastore": "kubernetes",
                "calico_manifest_ipip_mode": "Never", "calico_manifest_vxlan_mode": "CrossSubnet"},
}

# The only place that lists how our manifest differs from the release's: difference -> (files, reason).
INTENDED = {
    "env DaemonSet/calico-node calico-node +CALICO_IPV4POOL_CIDR":
        (BOTH, "the pool is a setting of ours (upstream leaves it commented out, calico-node then picks 192.168.0.0/16)"),
    "env DaemonSet/calico-node calico-node +CALICO_IPV4POOL_BLOCK_SIZE":
        (BOTH, "the block size is a setting of ours (upstream: calico-node's default /26)"),
    "env DaemonSet/calico-node calico-node +IP_AUTODETECTION_METHOD":
        (BOTH, "the node address detection is a setting of ours (upstream: calico-node's default first-found)"),
    "env DaemonSet/calico-node calico-node +FELIX_LOGSEVERITYSCREEN":
        (BOTH, "one log level setting for Felix and the CNI plugin"),
    "env DaemonSet/calico-node install-cni +CNI_NET_DIR":
        (BOTH, "install-cni writes the kubeconfig and etcd TLS paths under CNI_NET_DIR: set to the host conf dir, "
               "so a conf dir other than /etc/cni/net.d gets correct paths"),
    "env DaemonSet/calico-node calico-node +DATASTORE_TYPE":
        ((ETCD,), "explicit etcdv3 rather than calico-node's default"),
    "env Deployment/calico-kube-controllers calico-kube-controllers +DATASTORE_TYPE":
        ((ETCD,), "explicit etcdv3 rather than kube-controllers' default"),
    "env DaemonSet/calico-node calico-node +NODENAME":
        ((ETCD,), "the Calico node name is the Kubernetes node name (spec.nodeName) in both datastores, not the "
                  "host name, so it matches the kubelet's --hostname-override and the CNI config's nodename"),
    "env DaemonSet/calico-node install-cni +KUBERNETES_NODE_NAME":
        ((ETCD,), "fills the nodename of the CNI config in both datastores (see the next entry)"),
    "cni plugins[0].nodename +'worker-1'":
        ((ETCD,), "the CNI plugin names the node as calico-node does (spec.nodeName); upstream's etcd config leaves "
                  "it to /var/lib/calico/nodename or the host name"),
    "cni plugins[0].datastore_type +'etcdv3'":
        ((ETCD,), "explicit etcdv3 rather than the CNI plugin's default"),
}

# Calico's install-cni (cni-plugin/pkg/install, v3.29): placeholder -> how it is replaced.
# env: the value of that container variable (default when unset); path: CNI_NET_DIR + suffix;
# tls: CNI_NET_DIR/calico-tls/<file> when the Secret holds that file, else "".
INSTALL_CNI = {
    "__LOG_LEVEL__": ("env", "LOG_LEVEL", "info"),
    "__LOG_FILE_PATH__": ("env", "LOG_FILE_PATH", "/var/log/calico/cni/cni.log"),
    "__LOG_FILE_MAX_SIZE__": ("env", "LOG_FILE_MAX_SIZE", "100"),
    "__LOG_FILE_MAX_AGE__": ("env", "LOG_FILE_MAX_AGE", "30"),
    "__LOG_FILE_MAX_COUNT__": ("env", "LOG_FILE_MAX_COUNT", "10"),
    "__DATASTORE_TYPE__": ("env", "DATASTORE_TYPE", "kubernetes"),
    "__KUBERNETES_NODE_NAME__": ("env", "KUBERNETES_NODE_NAME", NODE),
    "__KUBECONFIG_FILEPATH__": ("path", "/calico-kubeconfig", None),
    "__CNI_MTU__": ("env", "CNI_MTU", "1500"),
    "__KUBERNETES_SERVICE_HOST__": ("env", "KUBERNETES_SERVICE_HOST", ""),
    "__KUBERNETES_SERVICE_PORT__": ("env", "KUBERNETES_SERVICE_PORT", ""),
    "__SERVICEACCOUNT_TOKEN__": ("env", "SERVICEACCOUNT_TOKEN", ""),
    "__ETCD_CERT_FILE__": ("tls", "etcd-cert", None),
    "__ETCD_CA_CERT_FILE__": ("tls", "etcd-ca", None),
    "__ETCD_KEY_FILE__": ("tls", "etcd-key", None),
    "__ETCD_ENDPOINTS__": ("env", "ETCD_ENDPOINTS", ""),
    "__ETCD_DISCOVERY_SRV__": ("env", "ETCD_DISCOVERY_SRV", ""),
}


def reference_dir():
    """(directory, None) or (None, reason)."""
    given = os.environ.get(REFERENCE_ENV)
    if given:
        if not os.path.isfile(os.path.join(given, KDD)):
            pytest.fail("%s=%s has no %s" % (REFERENCE_ENV, given, KDD))
        return given, None
    tried = []
    here = ROOT
    while True:
        candidate = os.path.join(os.path.dirname(here), "shared", "reference", "calico-%s" % CALICO_VERSION)
        tried.append(candidate)
        if os.path.isfile(os.path.join(candidate, KDD)):
            return candidate, None
        if os.path.dirname(here) == here:
            break
        here = os.path.dirname(here)
    return None, ("no Calico %s reference manifests: set %s to a directory with %s, %s, %s and crds.yaml "
                  "(tried %s)" % (CALICO_VERSION, REFERENCE_ENV, ETCD, KDD, KDD_VXLAN, ", ".join(tried)))


@pytest.fixture(scope="module")
def reference():
    path, reason = reference_dir()
    if path is None:
        print("SKIP: " + reason)
        pytest.skip(reason)
    return path


def load(path):
    with open(path) as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def key(doc):
    return (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])


def short(doc_key):
    return "%s/%s" % (doc_key[0], doc_key[2])


# ---------------------------------------------------------------- install-cni

def install_cni(text, env, tls_files):
    """The conflist install-cni writes from cni_network_config on node NODE, parsed."""
    net_dir = env.get("CNI_NET_DIR", "/etc/cni/net.d")
    for placeholder, (how, name, default) in INSTALL_CNI.items():
        if how == "env":
            value = env.get(name, default)
        elif how == "path":
            value = net_dir + name
        else:
            value = "%s/calico-tls/%s" % (net_dir, name) if name in tls_files else ""
        text = text.replace(placeholder, value)
    return json.loads(text)


def container_env(container):
    """Literal values of a container's env; valueFrom entries as their reference."""
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}


def node_conflist(docs):
    """What install-cni writes on NODE from these docs, as the container's env resolves."""
    config = find(docs, "ConfigMap", "calico-config")["data"]
    spec = find(docs, "DaemonSet", "calico-node")["spec"]["template"]["spec"]
    install = [c for c in spec["initContainers"] if c["name"] == "install-cni"][0]
    env = {}
    for name, value in container_env(install).items():
        if isinstance(value, dict) and "configMapKeyRef" in value:
            env[name] = config[value["configMapKeyRef"]["key"]]
        elif isinstance(value, dict) and value.get("fieldRef", {}).get("fieldPath") == "spec.nodeName":
            env[name] = NODE
        elif isinstance(value, str):
            env[name] = value
    secrets = [doc for doc in docs if doc["kind"] == "Secret" and doc["metadata"]["name"] == "calico-etcd-secrets"]
    tls_files = set((secrets[0].get("data") or {}) if secrets else ())
    return install_cni(config["cni_network_config"], env, tls_files), env


def find(docs, kind, name):
    found = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, "%s/%s: %d objects" % (kind, name, len(found))
    return found[0]


# ---------------------------------------------------------------- comparison

def flatten(value, prefix=""):
    if isinstance(value, dict):
        out = {}
        for name, item in value.items():
            out.update(flatten(item, "%s.%s" % (prefix, name) if prefix else name))
        return out
    if isinstance(value, list):
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, "%s[%d]" % (prefix, index)))
        return out
    return {prefix: value}


def compare_flat(label, ours, theirs):
    diffs = []
    ours_flat, theirs_flat = flatten(ours), flatten(theirs)
    for path in sorted(set(ours_flat) | set(theirs_flat)):
        if path not in theirs_flat:
            diffs.append("%s %s +%r" % (label, path, ours_flat[path]))
        elif path not in ours_flat:
            diffs.append("%s %s -%r" % (label, path, theirs_flat[path]))
        elif ours_flat[path] != theirs_flat[path]:
            diffs.append("%s %s %r != %r" % (label, path, ours_flat[path], theirs_flat[path]))
    return diffs


def compare_sets(label, ours, theirs):
    return (["%s +%s" % (label, item) for item in sorted(set(ours) - set(theirs))]
            + ["%s -%s" % (label, item) for item in sorted(set(theirs) - set(ours))])


def permissions(role):
    out = set()
    for rule in role.get("rules", []):
        for group in rule.get("apiGroups", [""]):
            for resource in rule.get("resources", []):
                for name in rule.get("resourceNames", ["*"]):
                    for verb in rule["verbs"]:
                        out.add("%s:%s:%s:%s" % (group or "core", resource, name, verb))
    return out


def mounts(container):
    return ["%s@%s%s%s" % (item["name"], item["mountPath"], " ro" if item.get("readOnly") else "",
                           " " + item["mountPropagation"] if item.get("mountPropagation") else "")
            for item in container.get("volumeMounts", [])]


CONTAINER_FIELDS = ("image", "imagePullPolicy", "command", "args", "envFrom", "livenessProbe", "readinessProbe",
                    "lifecycle", "securityContext", "resources")
POD_FIELDS = ("hostNetwork", "serviceAccountName", "priorityClassName", "nodeSelector", "tolerations",
              "securityContext", "terminationGracePeriodSeconds")


def compare_workload(label, ours, theirs):
    diffs = []
    for field in ("replicas", "selector", "updateStrategy", "strategy"):
        diffs += compare_flat("spec %s %s" % (label, field), ours["spec"].get(field), theirs["spec"].get(field))
    diffs += compare_flat("template-labels %s" % label, ours["spec"]["template"]["metadata"].get("labels"),
                          theirs["spec"]["template"]["metadata"].get("labels"))
    pod, their_pod = ours["spec"]["template"]["spec"], theirs["spec"]["template"]["spec"]
    for field in POD_FIELDS:
        diffs += compare_flat("pod %s %s" % (label, field), pod.get(field), their_pod.get(field))
    volumes = {v["name"]: {k: v[k] for k in v if k != "name"} for v in pod.get("volumes", [])}
    their_volumes = {v["name"]: {k: v[k] for k in v if k != "name"} for v in their_pod.get("volumes", [])}
    diffs += compare_sets("volume %s" % label, volumes, their_volumes)
    for name in sorted(set(volumes) & set(their_volumes)):
        diffs += compare_flat("volume %s %s" % (label, name), volumes[name], their_volumes[name])
    for group in ("initContainers", "containers"):
        ours_c = [c["name"] for c in pod.get(group, [])]
        theirs_c = [c["name"] for c in their_pod.get(group, [])]
        if ours_c != theirs_c:
            diffs.append("%s %s %s != %s" % (group, label, ours_c, theirs_c))
        by_name = {c["name"]: c for c in pod.get(group, [])}
        for container in their_pod.get(group, []):
            mine = by_name.get(container["name"])
            if mine is None:
                continue
            where = "%s %s" % (label, container["name"])
            env, their_env = container_env(mine), container_env(container)
            diffs += compare_sets("env %s" % where, env, their_env)
            for name in sorted(set(env) & set(their_env)):
                if env[name] != their_env[name]:
                    diffs.append("env-value %s %s %r != %r" % (where, name, env[name], their_env[name]))
            diffs += compare_sets("mount %s" % where, mounts(mine), mounts(container))
            for field in CONTAINER_FIELDS:
                diffs += compare_flat("container %s %s" % (where, field), mine.get(field), container.get(field))
    return diffs


def differences(ours, theirs, crds=None, their_crds=None):
    diffs = []
    ours_by_key = {key(doc): doc for doc in ours if doc["kind"] != "CustomResourceDefinition"}
    theirs_by_key = {key(doc): doc for doc in theirs if doc["kind"] != "CustomResourceDefinition"}
    diffs += compare_sets("object", ["%s/%s/%s" % k for k in ours_by_key], ["%s/%s/%s" % k for k in theirs_by_key])
    if their_crds is not None:
        diffs += compare_sets("crd", [doc["metadata"]["name"] for doc in crds],
                              [doc["metadata"]["name"] for doc in their_crds])
    for doc_key in sorted(set(ours_by_key) & set(theirs_by_key)):
        mine, theirs_doc = ours_by_key[doc_key], theirs_by_key[doc_key]
        label = short(doc_key)
        kind = doc_key[0]
        if kind == "ClusterRole":
            diffs += compare_sets("rbac %s" % label, permissions(mine), permissions(theirs_doc))
        elif kind == "ClusterRoleBinding":
            diffs += compare_flat("binding %s" % label, {"roleRef": mine["roleRef"], "subjects": mine["subjects"]},
                                  {"roleRef": theirs_doc["roleRef"], "subjects": theirs_doc["subjects"]})
        elif kind == "ConfigMap":
            diffs += compare_sets("configmap-key %s" % label, mine["data"], theirs_doc["data"])
            for name in ("calico_backend", "typha_service_name"):
                diffs += compare_flat("configmap %s %s" % (label, name), mine["data"].get(name),
                                      theirs_doc["data"].get(name))
        elif kind == "Secret":
            diffs += compare_sets("secret-key %s" % label, mine.get("data") or {}, theirs_doc.get("data") or {})
            diffs += compare_flat("secret-type %s" % label, mine.get("type"), theirs_doc.get("type"))
        elif kind in ("DaemonSet", "Deployment"):
            diffs += compare_workload(label, mine, theirs_doc)
        elif kind == "PodDisruptionBudget":
            diffs += compare_flat("spec %s" % label, mine["spec"], theirs_doc["spec"])
        diffs += compare_flat("labels %s" % label, mine["metadata"].get("labels"), theirs_doc["metadata"].get("labels"))
        diffs += compare_flat("apiVersion %s" % label, mine["apiVersion"], theirs_doc["apiVersion"])
    ours_cni, _env = node_conflist(ours)
    theirs_cni, _their_env = node_conflist_as_configured(theirs, ours)
    diffs += compare_flat("cni", ours_cni, theirs_cni)
    return diffs


def node_conflist_as_configured(theirs, ours):
    """Upstream's conflist on NODE once its ConfigMap carries our settings.

    Upstream's calico-config is a form the user fills in (etcd endpoints, MTU); fill it with the values
    our ConfigMap has, so the comparison is about the structure, not the settings.
    """
    their_config = find(theirs, "ConfigMap", "calico-config")["data"]
    our_config = find(ours, "ConfigMap", "calico-config")["data"]
    for name in ("etcd_endpoints", "etcd_ca", "etcd_cert", "etcd_key", "veth_mtu"):
        if name in their_config and name in our_config:
            their_config[name] = our_config[name]
    return node_conflist(theirs)


# ---------------------------------------------------------------- rendering

def render(tmp_dir, name, http, reference):
    out = os.path.join(tmp_dir, "manifest-" + name.replace(".", "-"))
    evars = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "calico_manifest_render_only": True,
        "calico_manifest_dir": out,
        "calico_manifest_version": CALICO_VERSION,
        "calico_manifest_pool_cidr": "192.168.0.0/16",
        "calico_manifest_mtu": 1440,
    }
    evars.update(CASES[name])
    if evars["calico_manifest_datastore"] == "kubernetes":
        with open(os.path.join(reference, "crds.yaml"), "rb") as handle:
            sha = http.add("crds.yaml", handle.read())
        evars.update(calico_manifest_crds_url=http.url("crds.yaml"), calico_manifest_crds_sha256=sha)
    run_playbook(os.path.join(FILES, "render.yml"), extra_vars=evars)
    docs = load(os.path.join(out, "calico.yaml"))
    crds_path = os.path.join(out, "crds.yaml")
    crds = load(crds_path) if os.path.exists(crds_path) else None
    return docs, crds, evars


@pytest.fixture(scope="module")
def rendered(reference, tmp_path_factory):
    """name -> (our documents, our CRDs or None, the settings), each case rendered once per module."""
    tmp_dir = tmp_path_factory.mktemp("conformance")
    www = tmp_dir / "www"
    www.mkdir()
    http = HttpServer(str(www))
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = render(str(tmp_dir), name, http, reference)
        return cache[name]

    try:
        yield get
    finally:
        http.stop()


def unexplained(name, diffs):
    return [diff for diff in diffs if diff not in INTENDED or name not in INTENDED[diff][0]]


@pytest.fixture(scope="module")
def observed():
    """Differences seen by each case, for the check that INTENDED lists nothing stale."""
    return {}


@pytest.mark.parametrize("name", [ETCD, KDD, KDD_VXLAN])
def test_manifest_conforms(rendered, reference, observed, name):
    theirs = load(os.path.join(reference, name))
    ours, crds, evars = rendered(name)
    their_crds = [doc for doc in theirs if doc["kind"] == "CustomResourceDefinition"]
    if evars["calico_manifest_datastore"] == "kubernetes":
        assert crds, "the role wrote no crds.yaml for the Kubernetes datastore"
        assert their_crds, "%s holds no CRDs" % name
    diffs = differences(ours, theirs, crds, their_crds if crds is not None else None)
    observed[name] = diffs
    left = unexplained(name, diffs)
    assert not left, "differences from upstream %s not listed in INTENDED:\n  %s" % (name, "\n  ".join(left))


@pytest.mark.parametrize("name", [ETCD, KDD, KDD_VXLAN])
def test_node_conflist_is_what_install_cni_writes(rendered, name):
    """The list the cni_plugins role writes (module_utils.calico._cniconf) equals install-cni's output."""
    ours, _crds, evars = rendered(name)
    written, env = node_conflist(ours)
    assert written["plugins"][0]["mtu"] == 1440
    assert isinstance(written["plugins"][0]["mtu"], int)
    assert [plugin["type"] for plugin in written["plugins"]] == ["calico", "portmap", "bandwidth"]
    role = calico_conflist(datastore=evars["calico_manifest_datastore"], mtu=evars["calico_manifest_mtu"],
                           nodename=NODE, conf_dir=env["CNI_NET_DIR"],
                           etcd_endpoints=evars.get("calico_manifest_etcd_endpoints"), etcd_tls=False)
    assert role == written


def test_intended_differences_are_all_seen(observed):
    if len(observed) < len(CASES):
        pytest.skip("needs every test_manifest_conforms case to have run (ran: %s)" % ", ".join(sorted(observed)))
    stale = ["%s (%s)" % (diff, name) for diff, (names, _reason) in INTENDED.items() for name in names
             if diff not in observed[name]]
    assert not stale, "INTENDED lists differences no case shows any more:\n  " + "\n  ".join(stale)


def test_install_cni_substitution_of_a_custom_conf_dir():
    """With CNI_NET_DIR set, install-cni's paths follow it: what the manifest relies on."""
    text = '{"kubeconfig": "__KUBECONFIG_FILEPATH__", "cert": "__ETCD_CERT_FILE__", "key": "__ETCD_KEY_FILE__", "mtu": __CNI_MTU__}'
    out = install_cni(text, {"CNI_NET_DIR": "/var/lib/cni/conf", "CNI_MTU": "1450"}, {"etcd-cert"})
    assert out == {"kubeconfig": "/var/lib/cni/conf/calico-kubeconfig", "cert": "/var/lib/cni/conf/calico-tls/etcd-cert",
                   "key": "", "mtu": 1450}
