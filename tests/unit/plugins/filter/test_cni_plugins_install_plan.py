# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cni_plugins_install_plan: the same files and links as the two Jinja loops it replaced in
roles/cni_plugins/tasks/main.yml, and the role's expression builds the podnet plugin only when it is installed."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.podnet.calico.plugins.filter.cni_plugins import cni_plugins_install_plan
from ansible_collections.podnet.calico.plugins.lookup import cni_executable

ROOT = cni_executable.ROOT
ANSIBLE = os.path.join(os.path.dirname(sys.executable), "ansible")

# The task's files and links before the filter (commit 4383dc7), with the lookup call replaced by the
# variable podnet_text: it is undefined in the cases without the podnet plugin, so the old Jinja would
# fail there if it read it.
OLD_FILES = """
      {%- set out = [] -%}
      {%- if cni_plugins_reference_plugins | length > 0 and cni_plugins_reference_install_mode == 'copy' -%}
      {%- for name in cni_plugins__reference_found -%}
      {%- set _ = out.append({'path': cni_plugins_bin_dir ~ '/' ~ name, 'src': cni_plugins_reference_package_dir ~ '/' ~ name,
                              'mode': '0755'}) -%}
      {%- endfor -%}
      {%- endif -%}
      {%- if cni_plugins_calico_impl == 'podnet' -%}
      {%- set _ = out.append({'path': cni_plugins_bin_dir ~ '/calico', 'mode': '0755', 'diff': false,
                              'content': podnet_text}) -%}
      {%- endif -%}
      {{ out }}
"""
OLD_LINKS = """
      {%- set out = [] -%}
      {%- if cni_plugins_reference_plugins | length > 0 and cni_plugins_reference_install_mode == 'link' -%}
      {%- for name in cni_plugins__reference_found -%}
      {%- set _ = out.append({'path': cni_plugins_bin_dir ~ '/' ~ name, 'target': cni_plugins_reference_package_dir ~ '/' ~ name}) -%}
      {%- endfor -%}
      {%- endif -%}
      {%- if cni_plugins_calico_impl == 'podnet' -%}
      {%- set _ = out.append({'path': cni_plugins_bin_dir ~ '/calico-ipam', 'target': 'calico'}) -%}
      {%- endif -%}
      {{ out }}
"""
TEXT = "#!/usr/bin/python3 -IS\n# the plugin\n"
REFERENCE_SETS = {"none": [], "two": ["loopback", "portmap"], "three": ["bandwidth", "host-local", "loopback"]}


def role_vars(impl, mode, reference, bin_dir="/opt/cni/bin", package_dir="/usr/lib/cni"):
    out = {"cni_plugins_calico_impl": impl, "cni_plugins_reference_install_mode": mode,
           "cni_plugins_reference_plugins": list(reference), "cni_plugins_bin_dir": bin_dir,
           "cni_plugins_reference_package_dir": package_dir, "cni_plugins_podnet_python": "/usr/bin/python3",
           "cni_plugins_reference_package_install": False, "cni_plugins_reference_package": "containernetworking-plugins"}
    if reference:
        # set by tasks/reference.yml only when there are reference plugins: undefined otherwise
        out["cni_plugins__reference_found"] = list(reference)
    return out


def old_jinja(variables, podnet_text):
    templar = Templar(loader=DataLoader(), variables=dict(variables, **({"podnet_text": podnet_text} if podnet_text else {})))
    return {"files": templar.template(trust_as_template(OLD_FILES.strip())),
            "links": templar.template(trust_as_template(OLD_LINKS.strip()))}


CASES = list(itertools.product(["podnet", "upstream"], ["copy", "link"], list(REFERENCE_SETS)))


@pytest.mark.parametrize("impl, mode, reference", CASES, ids=["-".join(case) for case in CASES])
def test_same_files_and_links_as_the_jinja_it_replaced(impl, mode, reference):
    variables = role_vars(impl, mode, REFERENCE_SETS[reference])
    podnet = TEXT if impl == "podnet" else None
    expected = old_jinja(variables, podnet)
    got = cni_plugins_install_plan(REFERENCE_SETS[reference], bin_dir=variables["cni_plugins_bin_dir"],
                                   package_dir=variables["cni_plugins_reference_package_dir"], mode=mode, podnet=podnet)
    assert got == expected
    # something to compare: every case but "no reference plugins, no podnet" installs something
    assert got["files"] or got["links"] or (reference == "none" and impl != "podnet")


def test_what_it_lists():
    got = cni_plugins_install_plan(["loopback"], bin_dir="/b", package_dir="/p", mode="link", podnet=TEXT)
    assert got == {"files": [{"path": "/b/calico", "mode": "0755", "diff": False, "content": TEXT}],
                   "links": [{"path": "/b/loopback", "target": "/p/loopback"},
                             {"path": "/b/calico-ipam", "target": "calico"}]}
    assert cni_plugins_install_plan(["loopback"], "/b", "/p")["files"] == [
        {"path": "/b/loopback", "src": "/p/loopback", "mode": "0755"}]


def test_expected_plugins_missing_are_named():
    assert cni_plugins_install_plan(["loopback", "portmap"], "/b", "/p", expected=["portmap", "loopback"])["files"]
    with pytest.raises(AnsibleFilterError, match=r"^portmap, bandwidth not found in /p \(package cnp\)\.$"):
        cni_plugins_install_plan(["loopback"], "/b", "/p", expected=["loopback", "portmap", "bandwidth"], package="cnp")
    with pytest.raises(AnsibleFilterError, match="expected must be a list of plugin names"):
        cni_plugins_install_plan([], "/b", "/p", expected="loopback")


@pytest.mark.parametrize("args, kwargs, message", [
    (("loopback", "/b", "/p"), {}, "the input must be a list of plugin names"),
    (([1], "/b", "/p"), {}, "the input must be a list of plugin names"),
    (([], "", "/p"), {}, "bin_dir must be a directory"),
    (([], "/b", None), {}, "package_dir must be a directory"),
    (([], "/b", "/p"), {"mode": "hardlink"}, "mode must be one of copy, link, got 'hardlink'"),
    (([], "/b", "/p"), {"podnet": True}, "podnet must be the text of the plugin or none, got a bool"),
])
def test_bad_input_is_named(args, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        cni_plugins_install_plan(*args, **kwargs)


def role_expression():
    """The install plan cni_plugins__install, as written in roles/cni_plugins/vars/main.yml."""
    tasks_dir = os.path.join(ROOT, "roles", "cni_plugins", "tasks")
    # The plan is read once per host (one option, install), not once for files and once more for links,
    # and the arguments are options, not one template (Ansible warns about templated arguments).
    for name in ("install.yml", "config.yml"):
        with open(os.path.join(tasks_dir, name)) as handle:
            (task,) = [t for t in yaml.safe_load(handle) if "podnet.calico.node_files" in t]
        args = task["podnet.calico.node_files"]
        assert isinstance(args, dict), (name, args)
        assert len(re.findall(r"\bcni_plugins__install\b", json.dumps(args))) == 1, (name, args)
        assert "cni_plugins__install" in args["install"] and "files" not in args and "links" not in args, (name, args)
    with open(os.path.join(ROOT, "roles", "cni_plugins", "vars", "main.yml")) as handle:
        return yaml.safe_load(handle)["cni_plugins__install"].strip()


@pytest.mark.parametrize("impl, mode, reference", [("podnet", "link", "two"), ("upstream", "copy", "three"),
                                                   ("upstream", "link", "none")])
def test_the_role_expression_through_ansible_builds_only_for_podnet(tmp_path, impl, mode, reference):
    variables = role_vars(impl, mode, REFERENCE_SETS[reference], package_dir=str(tmp_path))
    proc = subprocess.run([ANSIBLE, "localhost", "-vvv", "-e", json.dumps(variables), "-m", "ansible.builtin.debug",
                           "-a", "msg={{ %s | to_json }}" % role_expression()[2:-2].strip()],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300,
                          check=False, env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0",
                                                ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp")))
    assert proc.returncode == 0, proc.stdout
    podnet = cni_executable.executable_text("/usr/bin/python3") if impl == "podnet" else None
    expected = old_jinja(variables, podnet)
    # debug shows the JSON text as a JSON string
    assert json.dumps(json.dumps(expected))[1:-1] in proc.stdout, proc.stdout[-2000:]
    built = proc.stdout.count("cni_executable: built the plugin for /usr/bin/python3,")
    assert built == (1 if impl == "podnet" else 0), proc.stdout[-2000:]
