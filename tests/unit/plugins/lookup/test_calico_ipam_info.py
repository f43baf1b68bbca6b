# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The calico_ipam_info lookup: the module's report, read in the calling process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible.errors import AnsibleLookupError

from ansible_collections.podnet.calico.plugins.lookup.calico_ipam_info import LookupModule
from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
from ansible_collections.podnet.calico.plugins.module_utils.ipam._sqlite import SQLiteStore


@pytest.fixture
def datastore(tmp_path):
    path = str(tmp_path / "ipam.sqlite")
    store = SQLiteStore(path)
    alloc = Allocator(store)
    alloc.assign("default.pod1", "node1", "10.244.0.0/16", attributes={"node": "node1"})
    alloc.assign("default.pod2", "node2", "10.244.0.0/16", attributes={"node": "node2"})
    alloc.assign("default.gone", "node2", "10.244.0.0/16", attributes={"node": "node2"})
    store.close()
    return path


def module_report(args):
    """calico_ipam_info run as Ansible runs a module: its own process, arguments as JSON."""
    module = "ansible_collections.podnet.calico.plugins.modules.calico_ipam_info"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, "-m", module, json.dumps({"ANSIBLE_MODULE_ARGS": args})],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env, check=False)
    report = json.loads(proc.stdout)
    for key in ("changed", "invocation"):
        report.pop(key, None)
    return report


def test_the_lookup_reports_what_the_module_reports(datastore):
    args = {"pool": "10.244.0.0/16", "sqlite_path": datastore, "live_handles": ["default.pod1", "default.pod2"], "check": True}
    (report,) = LookupModule().run([], **args)
    assert report == module_report(args)
    assert [leak["handle"] for leak in report["leaks"]] == ["default.gone"]
    assert {block["affinity"] for block in report["blocks"]} == {"host:node1", "host:node2"}
    assert "check" in report


def test_a_missing_file_reads_as_empty_and_stays_missing(tmp_path):
    path = tmp_path / "none" / "ipam.sqlite"
    (report,) = LookupModule().run([], pool="10.244.0.0/16", sqlite_path=str(path))
    assert report["blocks"] == [] and report["handles"] == []
    assert not path.parent.exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"pool": "10.244.0.0/99"}, "pool='10.244.0.0/99' is not a valid IPv4 CIDR"),
    ({"datastore": "etcd"}, "datastore is etcd but all of the following are missing: etcd_endpoints"),
    ({"datastore": "zookeeper"}, "datastore must be one of: sqlite, etcd, got: zookeeper"),
    ({"bogus": 1}, "no option bogus; the options are check, datastore,"),
])
def test_bad_options_are_named(tmp_path, kwargs, message):
    kwargs.setdefault("sqlite_path", str(tmp_path / "ipam.sqlite"))
    with pytest.raises(AnsibleLookupError) as error:
        LookupModule().run([], **kwargs)
    assert message in str(error.value)


def test_terms_are_refused():
    with pytest.raises(AnsibleLookupError, match="takes no terms"):
        LookupModule().run(["10.244.0.0/16"])
