# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Raw etcd keys and JSON after assignments: Calico's etcdv3 layout, read without our store code."""

from __future__ import annotations

import base64
import json

import requests

from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
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


def test_calico_etcdv3_layout(etcd_tls):
    alloc = Allocator(EtcdStore(**etcd_tls.store_kwargs()))
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
    pool = raw["/calico/resources/v3/projectcalico.org/ippools/podnet-ipv4-10-244-0-0-16"]
    assert pool["apiVersion"] == "projectcalico.org/v3" and pool["kind"] == "IPPool"
    assert pool["metadata"]["name"] == "podnet-ipv4-10-244-0-0-16" and pool["metadata"]["uid"]
    assert pool["spec"] == {"cidr": "10.244.0.0/16", "blockSize": 26, "ipipMode": "Never", "vxlanMode": "Never",
                            "natOutgoing": False, "nodeSelector": "all()"}
    block = raw["/calico/ipam/v2/assignment/ipv4/block/10.244.0.0-26"]
    assert set(block) == {"cidr", "affinity", "strictAffinity", "allocations", "unallocated", "attributes",
                          "sequenceNumber", "sequenceNumberForAllocation", "deleted"}
    assert block["cidr"] == "10.244.0.0/26" and block["affinity"] == "host:node1"
    assert block["allocations"] == [0, 1] + [None] * 62
    assert block["unallocated"] == list(range(2, 64))
    assert block["attributes"] == [
        {"handle_id": "default.a", "secondary": {"namespace": "default", "pod": "a", "node": "node1"}},
        {"handle_id": "default.b", "secondary": {"namespace": "default", "pod": "b", "node": "node1"}},
    ]
    assert block["sequenceNumber"] == 2 and block["sequenceNumberForAllocation"] == {"0": 0, "1": 1}
    assert block["deleted"] is False and block["strictAffinity"] is False
    assert raw["/calico/ipam/v2/host/node1/ipv4/block/10.244.0.0-26"] == {"state": "confirmed", "deleted": False}
    assert raw["/calico/ipam/v2/handle/default.a"] == {"block": {"10.244.0.0/26": 1}, "deleted": False}

    # Release: the ordinal goes back to the end of the free list, attributes are compacted.
    alloc.release("default.a")
    raw = raw_dump(etcd_tls)
    block = raw["/calico/ipam/v2/assignment/ipv4/block/10.244.0.0-26"]
    assert block["allocations"] == [None, 0] + [None] * 62
    assert block["unallocated"] == list(range(2, 64)) + [0]
    assert [a["handle_id"] for a in block["attributes"]] == ["default.b"]
    assert "/calico/ipam/v2/handle/default.a" not in raw
    # The next address in Calico's order is the head of the free list, not the released one.
    assert alloc.assign("default.d", "node1", "10.244.0.0/16")["ip"] == "10.244.0.2"


def test_reads_and_repairs_calico_written_records(etcd_plain):
    """A block as Calico wrote it (extra fields, shuffled free list, a borrowed address) is used in its order."""
    store = EtcdStore(**etcd_plain.store_kwargs())
    store.create("/calico/resources/v3/projectcalico.org/ippools/default-ipv4-ippool", json.dumps({
        "kind": "IPPool", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "default-ipv4-ippool", "uid": "u1", "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"cidr": "192.168.0.0/16", "blockSize": 26, "ipipMode": "Always", "natOutgoing": True,
                 "nodeSelector": "all()", "allowedUses": ["Workload", "Tunnel"]}}))
    free = [5, 3] + list(range(6, 64)) + [4]
    allocations = [None] * 64
    for o in (0, 1, 2):
        allocations[o] = 0
    store.create("/calico/ipam/v2/assignment/ipv4/block/192.168.10.0-26", json.dumps({
        "cidr": "192.168.10.0/26", "affinity": "host:w1", "strictAffinity": False, "allocations": allocations,
        "unallocated": free, "attributes": [{"handle_id": "ipip-tunnel-addr-w1", "secondary": {"node": "w1", "type": "ipipTunnelAddress"}}],
        "sequenceNumber": 7, "sequenceNumberForAllocation": {"0": 1, "1": 2, "2": 3}, "deleted": False,
        "hostAffinity": None}))
    store.create("/calico/ipam/v2/host/w1/ipv4/block/192.168.10.0-26", json.dumps({"state": "confirmed", "deleted": False}))
    store.create("/calico/ipam/v2/handle/ipip-tunnel-addr-w1", json.dumps({"block": {"192.168.10.0/26": 3}, "deleted": False}))
    alloc = Allocator(store)
    # block_size given differently from the existing pool: refused, nothing written.
    try:
        alloc.assign("ns.x", "w1", "192.168.0.0/16", block_size=24)
        raise AssertionError("expected a block_size error")
    except Exception as exc:  # noqa: BLE001
        assert "block_size=24" in str(exc)
    r = alloc.assign("ns.x", "w1", "192.168.0.0/16")
    assert r["ip"] == "192.168.10.5" and r["block"] == "192.168.10.0/26" and not r["claimed_block"]
    raw = raw_dump(etcd_plain)
    block = raw["/calico/ipam/v2/assignment/ipv4/block/192.168.10.0-26"]
    assert "hostAffinity" in block, "a field written by Calico must survive our rewrite"
    assert block["unallocated"][:2] == [3, 6]
    assert block["sequenceNumber"] == 8 and block["sequenceNumberForAllocation"]["5"] == 7
    assert raw["/calico/resources/v3/projectcalico.org/ippools/default-ipv4-ippool"]["spec"]["allowedUses"] == ["Workload", "Tunnel"]
    info = alloc.info(live_handles=["ns.x", "ipip-tunnel-addr-w1"])
    assert info["leaks"] == [] and {h["handle"] for h in info["handles"]} == {"ns.x", "ipip-tunnel-addr-w1"}


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
            out[k] = d
        return out

    assert dump(sq) == dump(et)
