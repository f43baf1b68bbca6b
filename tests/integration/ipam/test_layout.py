# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Raw etcd keys and JSON after assignments: Calico's etcdv3 layout, read without our store code."""

from __future__ import annotations

import base64
import json
import time

import pytest

import requests

from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
from ansible_collections.podnet.calico.plugins.module_utils.ipam._check import check
from ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd import EtcdStore
from ansible_collections.podnet.calico.plugins.module_utils.ipam._sqlite import SQLiteStore


def _b64(s):
    return base64.b64encode(s.encode()).decode()


def raw_dump(server, prefix="/calico/"):
    """{key: decoded JSON} straight from etcd's JSON gateway."""
    end = bytearray(prefix.encode())
    end[-1] += 1
    kwargs = {}
    if server.tls:
        kwargs = {"verify": server.certs["ca"], "cert": (server.certs["client_cert"], server.certs["client_key"])}
    r = requests.post(server.url + "/v3/kv/range", json={"key": _b64(prefix), "range_end": base64.b64encode(bytes(end)).decode()},
                      timeout=5, **kwargs)
    r.raise_for_status()
    return dict((base64.b64decode(kv["key"]).decode(), json.loads(base64.b64decode(kv["value"])))
                for kv in r.json().get("kvs", []))


# The JSON shapes of Calico's Go types (libcalico-go lib/backend/model: block.go AllocationBlock,
# block_affinity.go BlockAffinity, ipam_handle.go IPAMHandle, ipam_config.go IPAMConfig; and the v3
# API's IPPoolSpec): field name -> (JSON types allowed, required). Go's encoding/json reads a
# missing field as its zero value, so "required" means: always written by Calico.
STR, INT, BOOL, NULL, LIST, OBJ = (str,), (int,), (bool,), (type(None),), (list,), (dict,)
GO_TYPES = {
    "block": {"cidr": (STR, True), "affinity": (STR + NULL, True), "allocations": (LIST, True),
              "unallocated": (LIST, True), "attributes": (LIST, True), "sequenceNumber": (INT, True),
              "sequenceNumberForAllocation": (OBJ + NULL, True), "deleted": (BOOL, True),
              "hostAffinity": (STR + NULL, False)},
    "affinity": {"state": (STR, True), "deleted": (BOOL, True)},
    "handle": {"block": (OBJ, True), "deleted": (BOOL, True)},
    "config": {"strict_affinity": (BOOL, False), "auto_allocate_blocks": (BOOL, False), "maxBlocksPerHost": (INT, False)},
    "ippool_spec": {"cidr": (STR, True), "vxlanMode": (STR, False), "ipipMode": (STR, False), "natOutgoing": (BOOL, False),
                    "disabled": (BOOL, False), "disableBGPExport": (BOOL, False), "blockSize": (INT, False),
                    "nodeSelector": (STR, False), "allowedUses": (LIST, False)},
}


def go_decode(kind, record):
    """Read ``record`` as Calico's Go type ``kind`` would, failing on what encoding/json would refuse
    or silently drop (an unknown field is dropped by Go: for records we write, that is a loss)."""
    fields = GO_TYPES[kind]
    unknown = set(record) - set(fields)
    assert not unknown, "%s has fields Calico's Go type lacks: %s" % (kind, sorted(unknown))
    for name, (types, required) in fields.items():
        if name not in record:
            assert not required, "%s lacks %s" % (kind, name)
            continue
        value = record[name]
        assert isinstance(value, types) and not (bool not in types and isinstance(value, bool)), \
            "%s.%s=%r is not %s" % (kind, name, value, types)
    if kind == "block":
        assert 0 <= record["sequenceNumber"] < 2 ** 64, "sequenceNumber is a uint64"
        for a in record["allocations"]:
            assert a is None or (isinstance(a, int) and not isinstance(a, bool) and a >= 0)
        assert all(isinstance(u, int) for u in record["unallocated"])
        for attr in record["attributes"]:
            assert set(attr) <= {"handle_id", "secondary"}, attr
            assert attr.get("handle_id") is None or isinstance(attr["handle_id"], str)
            sec = attr.get("secondary")
            assert sec is None or all(isinstance(k, str) and isinstance(v, str) for k, v in sec.items())
        for k, v in (record["sequenceNumberForAllocation"] or {}).items():
            assert k.isdigit() and isinstance(v, int) and 0 <= v < 2 ** 64
    if kind == "handle":
        assert all(isinstance(k, str) and isinstance(v, int) for k, v in record["block"].items())
    if kind == "affinity":
        assert record["state"] in ("confirmed", "pending", "pendingDeletion")


def test_calico_etcdv3_layout(etcd_tls):
    alloc = Allocator(EtcdStore(**etcd_tls.store_kwargs()))
    t0 = time.time_ns()
    a = alloc.assign("default.a", "node1", "10.244.0.0/16", attributes={"namespace": "default", "pod": "a"})
    b = alloc.assign("default.b", "node1", "10.244.0.0/16", attributes={"namespace": "default", "pod": "b"})
    c = alloc.assign("kube-system.c", "node2", "10.244.0.0/16")
    assert (a["ip"], b["ip"], c["ip"]) == ("10.244.0.0", "10.244.0.1", "10.244.0.64")
    raw = raw_dump(etcd_tls)
    assert sorted(raw) == [
        "/calico/ipam/v2/assignment/ipv4/block/10.244.0.0-26",
        "/calico/ipam/v2/assignment/ipv4/block/10.244.0.64-26",
        "/calico/ipam/v2/handle/default.a",
        "/calico/ipam/v2/handle/default.b",
        "/calico/ipam/v2/handle/kube-system.c",
        "/calico/ipam/v2/host/node1/ipv4/block/10.244.0.0-26",
        "/calico/ipam/v2/host/node2/ipv4/block/10.244.0.64-26",
        "/calico/resources/v3/projectcalico.org/ippools/podnet-ipv4-10-244-0-0-16",
    ]
    for key, record in raw.items():
        kind = ("block" if "/assignment/" in key else "affinity" if "/host/" in key else
                "handle" if "/handle/" in key else None)
        if kind:
            go_decode(kind, record)
    pool = raw["/calico/resources/v3/projectcalico.org/ippools/podnet-ipv4-10-244-0-0-16"]
    assert pool["apiVersion"] == "projectcalico.org/v3" and pool["kind"] == "IPPool"
    assert pool["metadata"]["name"] == "podnet-ipv4-10-244-0-0-16" and pool["metadata"]["uid"]
    go_decode("ippool_spec", pool["spec"])
    assert pool["spec"] == {"cidr": "10.244.0.0/16", "blockSize": 26, "ipipMode": "Never", "vxlanMode": "Never",
                            "natOutgoing": False, "nodeSelector": "all()", "allowedUses": ["Workload", "Tunnel"]}
    block = raw["/calico/ipam/v2/assignment/ipv4/block/10.244.0.0-26"]
    assert set(block) == {"cidr", "affinity", "allocations", "unallocated", "attributes",
                          "sequenceNumber", "sequenceNumberForAllocation", "deleted"}
    assert block["cidr"] == "10.244.0.0/26" and block["affinity"] == "host:node1"
    assert block["allocations"] == [0, 1] + [None] * 62
    assert block["unallocated"] == list(range(2, 64))
    assert block["attributes"] == [
        {"handle_id": "default.a", "secondary": {"namespace": "default", "pod": "a", "node": "node1"}},
        {"handle_id": "default.b", "secondary": {"namespace": "default", "pod": "b", "node": "node1"}},
    ]
    # Calico starts a new block's sequence number at its creation time in nanoseconds.
    start = block["sequenceNumberForAllocation"]["0"]
    assert t0 <= start <= time.time_ns()
    assert block["sequenceNumber"] == start + 2 and block["sequenceNumberForAllocation"] == {"0": start, "1": start + 1}
    assert block["deleted"] is False
    assert raw["/calico/ipam/v2/host/node1/ipv4/block/10.244.0.0-26"] == {"state": "confirmed", "deleted": False}
    assert raw["/calico/ipam/v2/handle/default.a"] == {"block": {"10.244.0.0/26": 1}, "deleted": False}

    # Release: the ordinal goes back to the end of the free list, attributes are compacted.
    alloc.release("default.a")
    raw = raw_dump(etcd_tls)
    block = raw["/calico/ipam/v2/assignment/ipv4/block/10.244.0.0-26"]
    go_decode("block", block)
    assert block["allocations"] == [None, 0] + [None] * 62
    assert block["unallocated"] == list(range(2, 64)) + [0]
    assert [a["handle_id"] for a in block["attributes"]] == ["default.b"]
    assert "/calico/ipam/v2/handle/default.a" not in raw
    # The next address in Calico's order is the head of the free list, not the released one.
    assert alloc.assign("default.d", "node1", "10.244.0.0/16")["ip"] == "10.244.0.2"


# Records as Calico v3.29 writes them to etcd: an IPPool made by calico-node's defaults
# (natOutgoing, allowedUses), an IPIP tunnel address allocated by calico-node, a pod address by
# the CNI plugin (handle <network>.<container id>), the IPAMConfig of `calicoctl ipam configure
# --strictaffinity=true`, and a free list in the order Calico leaves it after releases.
CALICO_POOL = {"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
               "metadata": {"name": "default-ipv4-ippool", "uid": "0c7c2b1e-5e5e-4c59-9a4c-d2b0f1d7a001",
                            "creationTimestamp": "2024-11-20T10:00:00Z"},
               "spec": {"cidr": "192.168.0.0/16", "ipipMode": "Always", "natOutgoing": True, "blockSize": 26,
                        "nodeSelector": "all()", "allowedUses": ["Workload", "Tunnel"], "vxlanMode": "Never"}}


def calico_block():
    allocations = [None] * 64
    allocations[0] = 0
    allocations[1] = 1
    allocations[2] = 1
    return {"cidr": "192.168.10.0/26", "affinity": "host:w1", "allocations": allocations,
            "unallocated": [5, 3] + list(range(6, 64)) + [4],
            "attributes": [{"handle_id": "ipip-tunnel-addr-w1", "secondary": {"node": "w1", "type": "ipipTunnelAddress"}},
                           {"handle_id": "k8s-pod-network.5d1c0e7a", "secondary": {
                               "namespace": "default", "node": "w1", "pod": "web-0",
                               "timestamp": "2024-11-20 10:01:02.3 +0000 UTC"}}],
            "sequenceNumber": 1732096800000000007,
            "sequenceNumberForAllocation": {"0": 1732096800000000000, "1": 1732096800000000004,
                                            "2": 1732096800000000005},
            "deleted": False}


def test_reads_and_updates_calico_written_records_without_loss(etcd_plain):
    """Records shaped as Calico writes them are read and updated by our allocator, and every field
    of the records survives (and still reads as Calico's Go types)."""
    store = EtcdStore(**etcd_plain.store_kwargs())
    store.create("/calico/resources/v3/projectcalico.org/ippools/default-ipv4-ippool", json.dumps(CALICO_POOL))
    block = calico_block()
    block["hostAffinity"] = None     # an old field Calico still reads: must survive a rewrite
    store.create("/calico/ipam/v2/assignment/ipv4/block/192.168.10.0-26", json.dumps(block))
    store.create("/calico/ipam/v2/host/w1/ipv4/block/192.168.10.0-26", json.dumps({"state": "confirmed", "deleted": False}))
    store.create("/calico/ipam/v2/handle/ipip-tunnel-addr-w1", json.dumps({"block": {"192.168.10.0/26": 1}, "deleted": False}))
    store.create("/calico/ipam/v2/handle/k8s-pod-network.5d1c0e7a",
                 json.dumps({"block": {"192.168.10.0/26": 2}, "deleted": False}))
    store.create("/calico/ipam/v2/config", json.dumps({"strict_affinity": True, "auto_allocate_blocks": True}))
    for key, rec in raw_dump(etcd_plain).items():
        kind = ("block" if "/assignment/" in key else "affinity" if "/host/" in key else
                "handle" if "/handle/" in key else "config" if key.endswith("/config") else None)
        if kind:
            go_decode(kind, rec)
    alloc = Allocator(store)
    with pytest.raises(Exception) as err:
        alloc.assign("ns.x", "w1", "192.168.0.0/16", block_size=24)
    assert "block_size=24" in str(err.value)
    r = alloc.assign("ns.x", "w1", "192.168.0.0/16", attributes={"namespace": "ns", "pod": "x"})
    assert r["ip"] == "192.168.10.5" and r["block"] == "192.168.10.0/26" and not r["claimed_block"]
    raw = raw_dump(etcd_plain)
    after = raw["/calico/ipam/v2/assignment/ipv4/block/192.168.10.0-26"]
    assert "hostAffinity" in after, "a field written by Calico must survive our rewrite"
    old = calico_block()
    # Every allocation Calico made is untouched, with its attributes and sequence number.
    for o in (0, 1, 2):
        assert after["attributes"][after["allocations"][o]] == old["attributes"][old["allocations"][o]]
        assert after["sequenceNumberForAllocation"][str(o)] == old["sequenceNumberForAllocation"][str(o)]
    assert after["unallocated"] == [3] + list(range(6, 64)) + [4]
    assert after["sequenceNumber"] == old["sequenceNumber"] + 1
    assert after["sequenceNumberForAllocation"]["5"] == old["sequenceNumber"]
    assert raw["/calico/resources/v3/projectcalico.org/ippools/default-ipv4-ippool"] == CALICO_POOL
    assert raw["/calico/ipam/v2/config"] == {"strict_affinity": True, "auto_allocate_blocks": True}
    go_decode("block", after)
    # The IPAMConfig says strict: an address in w1's block is not lent to w2.
    with pytest.raises(Exception) as err:
        alloc.assign("ns.y", "w2", "192.168.0.0/16", ip="192.168.10.9")
    assert "strict affinity" in str(err.value)
    # Release the pod Calico assigned: both of its addresses go, the tunnel address stays.
    gone = alloc.release("k8s-pod-network.5d1c0e7a")
    assert sorted(gone["ips"]) == ["192.168.10.1", "192.168.10.2"]
    after = raw_dump(etcd_plain)["/calico/ipam/v2/assignment/ipv4/block/192.168.10.0-26"]
    go_decode("block", after)
    assert [a["handle_id"] for a in after["attributes"]] == ["ipip-tunnel-addr-w1", "ns.x"]
    info = alloc.info(live_handles=["ns.x", "ipip-tunnel-addr-w1"])
    assert info["leaks"] == [] and {h["handle"] for h in info["handles"]} == {"ns.x", "ipip-tunnel-addr-w1"}
    assert check(store)["ok"], check(store)["problems"]


def test_sqlite_holds_the_same_keys_and_json(etcd_plain, tmp_path):
    """The same calls on SQLite and etcd leave the same keys and the same JSON (pool uid and time aside)."""
    sq = SQLiteStore(str(tmp_path / "ipam.sqlite"))
    et = EtcdStore(**etcd_plain.store_kwargs())
    for store in (sq, et):
        alloc = Allocator(store)
        for i in range(70):
            alloc.assign("ns.p%d" % i, "n%d" % (i % 2), "10.99.0.0/24", attributes={"pod": "p%d" % i})
        alloc.release("ns.p3")

    def dump(store):
        out = {}
        for k, v, _r in store.list("/calico/"):
            d = json.loads(v)
            if "metadata" in d:
                d["metadata"].pop("uid")
                d["metadata"].pop("creationTimestamp")
            if "sequenceNumber" in d:   # starts at the block's creation time: relative numbers compare
                start = d["sequenceNumber"] - 10 ** 6
                d["sequenceNumber"] -= start
                d["sequenceNumberForAllocation"] = dict((k, v - start) for k, v in d["sequenceNumberForAllocation"].items())
            out[k] = d
        return out

    assert dump(sq) == dump(et)
