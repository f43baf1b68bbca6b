# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the IPAM integration tests: real etcd servers (plain and TLS) and SQLite files."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from etcd_server import ETCD, EtcdServer  # noqa: E402  pylint: disable=wrong-import-position


def _need_etcd():
    if not os.access(ETCD, os.X_OK):
        pytest.fail("%s is missing: install the Debian package etcd-server (scripts/install-deps.sh)" % ETCD)


@pytest.fixture(scope="session")
def ipam_tmp():
    path = tempfile.mkdtemp(prefix="pnt%d-ipam-" % os.getpid())
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _server(ipam_tmp, tls, name):
    _need_etcd()
    workdir = os.path.join(ipam_tmp, name)
    os.makedirs(workdir)
    server = EtcdServer(workdir, tls=tls, name=name)
    server.start()
    return server


@pytest.fixture(scope="session")
def etcd_plain_server(ipam_tmp):
    server = _server(ipam_tmp, False, "etcd-plain")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def etcd_tls_server(ipam_tmp):
    server = _server(ipam_tmp, True, "etcd-tls")
    yield server
    server.stop()


@pytest.fixture
def etcd_plain(etcd_plain_server):
    """The plain-HTTP etcd, emptied of /calico/ keys."""
    etcd_plain_server.wipe()
    return etcd_plain_server


@pytest.fixture
def etcd_tls(etcd_tls_server):
    """The TLS (client certificate) etcd, emptied of /calico/ keys."""
    etcd_tls_server.wipe()
    return etcd_tls_server


@pytest.fixture(params=["sqlite", "etcd", "etcd-tls"])
def any_store(request, tmp_path):
    """A fresh store of each kind."""
    if request.param == "sqlite":
        from ansible_collections.podnet.calico.plugins.module_utils.ipam._sqlite import SQLiteStore
        store = SQLiteStore(str(tmp_path / "ipam.sqlite"))
    else:
        from ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd import EtcdStore
        server = request.getfixturevalue("etcd_plain" if request.param == "etcd" else "etcd_tls")
        store = EtcdStore(**server.store_kwargs())
    yield store
    store.close()
