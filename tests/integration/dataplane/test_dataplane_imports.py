# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which data-plane modules load pyroute2, under both interpreters (venv pyroute2 0.9, Debian 0.7).

proxy_arp reads and writes only /proc/sys/net: its run (the AnsiballZ file Ansible built for it,
run again in a process of its own) must end without pyroute2 (or netaddr) in sys.modules, while a
module that talks netlink has it there. With pyroute2 missing, the netlink modules fail with
Ansible's "Failed to import the required Python library (pyroute2)" message and proxy_arp still works.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

from dp_helpers import links, result_of, sh

FQ = "podnet.calico."
IFNAME = "cali1234567890a"

#: Runs an AnsiballZ file in this process (as Ansible does: the module runs inside the wrapper's
#: interpreter) and writes the names in sys.modules to a file when the interpreter exits.
PROBE = r"""
import atexit, json, runpy, sys
out, script = sys.argv[1], sys.argv[2]

def dump():
    with open(out, 'w') as handle:
        json.dump(sorted(sys.modules), handle)

atexit.register(dump)
sys.argv = [script]
runpy.run_path(script, run_name='__main__')
"""

COLLECTIONS = next(p for p in sys.path if p.endswith(os.path.join(".build", "collections")))
MISSING = "Failed to import the required Python library (pyroute2)"


def write_play(path, tasks):
    path.write_text(json.dumps([{"name": "imports", "hosts": "localhost", "connection": "local",
                                 "gather_facts": False, "tasks": tasks}], indent=1))
    return str(path)


def probe(interpreter, script, out):
    """Run one kept AnsiballZ file under ``interpreter``; returns (module result, sys.modules names)."""
    proc = subprocess.run([interpreter, "-c", PROBE, str(out), script], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert proc.returncode == 0, (script, proc.stdout[-2000:], proc.stderr[-2000:])
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    return result, set(json.loads(out.read_text()))


def test_proxy_arp_run_imports_no_pyroute2(run_playbook, dp_ns, interpreter, tmp_path):
    node = dp_ns("imp")
    sh("ip", "-n", node, "link", "add", IFNAME, "type", "veth", "peer", "name", "x0")
    remote = tmp_path / "remote"
    remote.mkdir()
    play = write_play(tmp_path / "play.yml", [
        {"name": "sysctl", FQ + "proxy_arp": {"netns": node, "config": [
            {"interface": "cali*", "proxy_arp": True, "proxy_delay": 0, "forwarding": True}]}},
        {"name": "info", FQ + "calico_dataplane_info": {"netns": node}},
    ])
    res = run_playbook(play, interpreter=interpreter,
                       env={"ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_REMOTE_TMP": str(remote)})
    assert result_of(res, "sysctl")["changed"]
    proxy_arp = glob.glob(str(remote / "*" / "AnsiballZ_proxy_arp.py"))
    info = glob.glob(str(remote / "*" / "AnsiballZ_calico_dataplane_info.py"))
    assert len(proxy_arp) == 1 and len(info) == 1, (proxy_arp, info)

    # undo one setting, so that the probed run has to read the namespace and write a sysctl again
    sh("ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.conf.%s.proxy_arp=0" % IFNAME)
    result, modules = probe(interpreter, proxy_arp[0], tmp_path / "proxy_arp.json")
    assert not result.get("failed"), result
    assert result["changed"] and result["changes"] == [
        "set net.ipv4.conf.%s.proxy_arp = 1 (was 0) in %s" % (IFNAME, node)], result
    assert sh("ip", "netns", "exec", node, "sysctl", "-n", "net.ipv4.conf.%s.proxy_arp" % IFNAME).strip() == "1"
    assert "ansible_collections.podnet.calico.plugins.module_utils.dataplane._proxyarp" in modules
    assert not [m for m in modules if m == "pyroute2" or m.startswith("pyroute2.")], sorted(modules)
    assert "netaddr" not in modules
    assert "ansible_collections.podnet.calico.plugins.module_utils.dataplane._netlink" not in modules

    # the probe does see pyroute2 where a module needs netlink
    result, modules = probe(interpreter, info[0], tmp_path / "info.json")
    assert not result.get("failed") and result["dataplane"]["interfaces"][0]["ifname"] == IFNAME, result
    assert "pyroute2" in modules


def test_netlink_modules_name_pyroute2_when_it_is_missing(play, dp_ns, tmp_path):
    """A pyroute2 that cannot be imported (a package on PYTHONPATH that raises ImportError)."""
    node = dp_ns("nopr2")
    sh("ip", "-n", node, "link", "add", IFNAME, "type", "veth", "peer", "name", "x0")
    hide = tmp_path / "hide"
    (hide / "pyroute2").mkdir(parents=True)
    (hide / "pyroute2" / "__init__.py").write_text("raise ImportError('pyroute2 is hidden by the test')\n")
    env = {"PYTHONPATH": str(hide)}
    netlink = {"calico_veth": {"netns": node, "state": "gathered"},
               "calico_route": {"netns": node, "state": "gathered"},
               "calico_tunnel": {"netns": node, "state": "gathered"},
               "calico_dataplane_info": {"netns": node}}
    tasks = [{"name": name, FQ + name: args, "environment": env, "ignore_errors": True}
             for name, args in netlink.items()]
    tasks.append({"name": "proxy_arp", FQ + "proxy_arp": {"netns": node, "config": [
        {"interface": IFNAME, "proxy_arp": True}]}, "environment": env})
    res = play(tasks)
    for name in netlink:
        result = result_of(res, name)
        assert result.get("failed") and MISSING in result["msg"], (name, result)
    result = result_of(res, "proxy_arp")
    assert not result.get("failed") and result["changed"], result
    assert [(i["ifname"], i["proxy_arp"]) for i in result["after"]] == [(IFNAME, True)], result


NAMES = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import (
    Namespace, existing_interfaces, has_interface, interface_names)
ns = Namespace(sys.argv[2])
print(json.dumps([interface_names(ns), has_interface(ns, 'cali00000000007'), has_interface(ns, 'nosuch0'),
                  existing_interfaces(ns, ['x7', 'nosuch0', 'cali00000000149', 'eth0']),
                  sorted(m for m in sys.modules if m.split('.')[0] == 'pyroute2')]))
ns.close()
"""


def test_interface_names_without_pyroute2_match_ip_link(dp_ns, interpreter):
    """The standard-library link listing of _netns (/proc/thread-self/net/dev read inside the namespace, many
    links) names what `ip` names, from the host's namespace (no link of the namespace exists there)."""
    node = dp_ns("names")
    batch = "".join("link add cali%011d type veth peer name x%d\n" % (i, i) for i in range(150))
    subprocess.run(["ip", "-n", node, "-batch", "-"], input=batch, universal_newlines=True, check=True)
    proc = subprocess.run([interpreter, "-c", NAMES, COLLECTIONS, node], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stderr
    names, has, has_not, existing, heavy = json.loads(proc.stdout)
    assert sorted(names) == sorted(links(node)) and len(names) == 301
    assert has is True and has_not is False and heavy == []
    assert existing == ["x7", "cali00000000149"]
