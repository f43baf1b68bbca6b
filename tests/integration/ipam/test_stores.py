# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The key-value contract on the real stores: SQLite, etcd over HTTP, etcd with TLS client certs."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd import EtcdStore
from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import (
    ConflictError, Op, ReadAhead, StoreError, StoreUnavailableError)
from etcd_server import free_port


def test_contract(any_store):
    s = any_store
    assert s.get("/calico/t/a") is None
    r1 = s.create("/calico/t/a", "1")
    assert s.get("/calico/t/a") == ("1", r1)
    with pytest.raises(ConflictError):
        s.create("/calico/t/a", "again")
    with pytest.raises(ConflictError):
        s.put("/calico/t/a", "2", r1 - 1)
    r2 = s.put("/calico/t/a", "2", r1)
    assert r2 > r1 and s.get("/calico/t/a") == ("2", r2)
    with pytest.raises(ConflictError):
        s.delete("/calico/t/a", r1)
    s.create("/calico/t/b", "b")
    s.create("/calico/tx", "outside")
    assert [k for k, _v, _r in s.list("/calico/t/")] == ["/calico/t/a", "/calico/t/b"]
    assert [v for _k, v, _r in s.list("/calico/t/", keys_only=True)] == [None, None]
    assert set(s.get_many(["/calico/t/a", "/calico/t/b", "/calico/t/missing"])) == {"/calico/t/a", "/calico/t/b"}
    s.delete("/calico/t/a", r2)
    assert s.get("/calico/t/a") is None


def test_read_many_and_read_ahead(any_store):
    s = any_store
    ra = s.create("/calico/t/a", "a")
    rb = s.create("/calico/t/b", "b")
    s.create("/calico/tx", "outside")
    gets, lists = s.read_many(["/calico/t/a", "/calico/t/none"], [("/calico/t/", False), ("/calico/t/", True)])
    assert gets == {"/calico/t/a": ("a", ra), "/calico/t/none": None}
    assert lists == {("/calico/t/", False): [("/calico/t/a", "a", ra), ("/calico/t/b", "b", rb)],
                     ("/calico/t/", True): [("/calico/t/a", None, ra), ("/calico/t/b", None, rb)]}
    ahead = ReadAhead(s, keys=["/calico/t/a"], prefixes=[("/calico/t/", False)])
    rb2 = s.put("/calico/t/b", "b2", rb)   # before the first read: the read-ahead sees it
    assert ahead.list("/calico/t/", keys_only=True) == [("/calico/t/a", None, ra), ("/calico/t/b", None, rb2)]
    ra2 = s.put("/calico/t/a", "a2", ra)   # after it: the answer read ahead is the older one, served once
    assert ahead.get("/calico/t/a") == ("a", ra)
    assert ahead.get("/calico/t/a") == ("a2", ra2)
    with pytest.raises(ConflictError):     # and a write on it fails as any stale compare-and-swap does
        ahead.put("/calico/t/a", "a3", ra)


def test_commit_is_all_or_nothing(any_store):
    s = any_store
    ra = s.create("/calico/t/a", "a")
    # Second condition fails: nothing of the transaction may be applied.
    with pytest.raises(ConflictError):
        s.commit([Op("put", "/calico/t/a", "a2", ra), Op("create", "/calico/t/new", "n"),
                  Op("put", "/calico/t/ghost", "g", 1)])
    assert s.get("/calico/t/a") == ("a", ra)
    assert s.get("/calico/t/new") is None
    rev = s.commit([Op("put", "/calico/t/a", "a2", ra), Op("create", "/calico/t/new", "n")])
    assert s.get("/calico/t/a") == ("a2", rev) and s.get("/calico/t/new") == ("n", rev)


def test_unreachable_etcd_names_the_option():
    store = EtcdStore(["http://127.0.0.1:%d" % free_port()], timeout=1)
    with pytest.raises(StoreUnavailableError) as err:
        store.get("/calico/x")
    assert "etcd_endpoints" in str(err.value) and err.value.option == "etcd_endpoints"


@pytest.mark.parametrize("kind", ["etcd_plain", "etcd_tls"])
def test_connect_ahead_then_use_the_same_connection(request, kind):
    """connect() opens the connection (and TLS handshake) before the first request; connected() stays true
    after the server's own TLS records (session tickets) and the first request goes over that connection."""
    server = request.getfixturevalue(kind)
    store = EtcdStore(**server.store_kwargs())
    try:
        assert not store.connected()
        store.connect()
        sock = store._clients[0]._conn.sock
        time.sleep(0.3)   # what the server sends after the handshake has arrived by now
        assert store.connected()
        rev = store.create("/calico/t/ahead", "x")
        assert store._clients[0]._conn.sock is sock
        assert store.get("/calico/t/ahead") == ("x", rev)
        assert store.connected()
    finally:
        store.close()


def test_connected_is_false_once_the_server_closed_the_connection():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def close_at_once():
        conn, _addr = listener.accept()
        conn.close()
    thread = threading.Thread(target=close_at_once)
    thread.start()
    store = EtcdStore(["http://127.0.0.1:%d" % listener.getsockname()[1]], timeout=2)
    try:
        store.connect()
        thread.join(5)
        deadline = time.time() + 5
        while store.connected() and time.time() < deadline:
            time.sleep(0.02)
        assert not store.connected()
    finally:
        store.close()
        listener.close()


def test_failover_to_second_endpoint(etcd_plain):
    dead = "http://127.0.0.1:%d" % free_port()
    store = EtcdStore([dead, etcd_plain.url], timeout=2)
    rev = store.create("/calico/t/failover", "x")
    assert store.get("/calico/t/failover") == ("x", rev)


@pytest.mark.parametrize("case,option", [
    ("missing_ca", "etcd_ca_cert"),
    ("garbage_ca", "etcd_ca_cert"),
    ("missing_key", "etcd_key"),
    ("mismatched_key", "etcd_cert"),
])
def test_bad_tls_files_name_the_option(etcd_tls, tmp_path, case, option):
    kw = etcd_tls.store_kwargs()
    if case == "missing_ca":
        kw["ca_cert"] = str(tmp_path / "nope.pem")
    elif case == "garbage_ca":
        bad = tmp_path / "garbage.pem"
        bad.write_text("not a certificate\n")
        kw["ca_cert"] = str(bad)
    elif case == "missing_key":
        kw["key"] = str(tmp_path / "nokey.pem")
    else:
        kw["key"] = etcd_tls.certs["server_key"]
    with pytest.raises(StoreError) as err:
        EtcdStore(**kw).get("/calico/x")
    assert err.value.option == option, str(err.value)
    assert option in str(err.value)
    assert "PRIVATE KEY" not in str(err.value)


def test_wrong_ca_and_missing_client_cert_fail_clearly(etcd_tls):
    kw = etcd_tls.store_kwargs()
    kw["ca_cert"] = etcd_tls.certs["other_ca"]
    with pytest.raises(StoreError) as err:
        EtcdStore(**kw).get("/calico/x")
    assert "etcd_ca_cert" in str(err.value)
    kw = etcd_tls.store_kwargs()
    kw.pop("cert")
    kw.pop("key")
    with pytest.raises(StoreError) as err:
        EtcdStore(**kw).get("/calico/x")
    assert "etcd_cert" in str(err.value) or "TLS" in str(err.value)
