# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The split of dataplane/_netns.py (namespaces, standard library only) from dataplane/_netlink.py (pyroute2).

Each import is checked in a fresh interpreter, so that what this test process imported does not count.
tests/integration/dataplane/test_dataplane_imports.py runs the modules themselves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

COLLECTIONS = next(p for p in sys.path if p.endswith(os.path.join(".build", "collections")))
PKG = "ansible_collections.podnet.calico.plugins."

SCRIPT = r"""
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
importlib.import_module(sys.argv[2])
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('pyroute2', 'netaddr'))))
"""


def heavy_imports(name):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, COLLECTIONS, PKG + name], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("name", [
    "modules.proxy_arp",
    "module_utils._ansible",
    "module_utils.dataplane._netns",
    "module_utils.dataplane._sysctl",
    "module_utils.dataplane._base",
    "module_utils.dataplane._proxyarp",
])
def test_namespace_and_sysctl_code_imports_no_pyroute2(name):
    assert heavy_imports(name) == []


@pytest.mark.parametrize("name", [
    "modules.calico_veth",
    "modules.calico_route",
    "modules.calico_tunnel",
    "modules.calico_dataplane_info",
])
def test_netlink_modules_still_import_pyroute2(name):
    assert "pyroute2" in heavy_imports(name)
