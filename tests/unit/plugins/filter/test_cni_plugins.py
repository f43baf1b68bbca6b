# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of CNI config lists and of plugins' VERSION answers."""

from __future__ import annotations

import json
import subprocess

import pytest

from ansible_collections.podnet.calico.plugins.filter.cni_plugins import (
    cni_plugins_conflist_errors,
    cni_plugins_version_errors,
)

GOOD = {"cniVersion": "0.3.1", "name": "k8s-pod-network",
        "plugins": [{"type": "calico", "ipam": {"type": "calico-ipam"}}, {"type": "portmap"}]}


def test_good_conflist_as_text_and_object():
    assert cni_plugins_conflist_errors(json.dumps(GOOD)) == []
    assert cni_plugins_conflist_errors(GOOD) == []


@pytest.mark.parametrize("change, message", [
    ({"cniVersion": None}, "cniVersion must be a version string"),
    ({"cniVersion": "1"}, "cniVersion must be a version string"),
    ({"name": "bad name"}, "name must be a string"),
    ({"plugins": []}, "plugins must be a non-empty list"),
    ({"plugins": [{"type": "calico"}, {"mtu": 1}]}, 'plugins[1] has no "type"'),
    ({"plugins": ["calico"]}, "plugins[0] must be an object"),
])
def test_bad_conflist(change, message):
    conflist = dict(GOOD)
    for key, value in change.items():
        if value is None:
            conflist.pop(key)
        else:
            conflist[key] = value
    errors = cni_plugins_conflist_errors(conflist)
    assert any(message in error for error in errors), errors


def test_conflist_not_json():
    assert cni_plugins_conflist_errors("{")[0].startswith("not valid JSON")


def _version(plugin):
    """Ask a real reference plugin for its versions the CNI way."""
    return subprocess.run(["/usr/lib/cni/%s" % plugin], input='{"cniVersion": "1.0.0"}', env={"CNI_COMMAND": "VERSION"},
                          stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout


def test_real_plugins_answer():
    answers = {"loopback": _version("loopback"), "portmap": _version("portmap")}
    assert cni_plugins_version_errors(answers, "0.3.1", {"loopback": "0.2.0"}) == []


def test_version_problems():
    answers = {
        "loopback": json.dumps({"cniVersion": "0.1.0", "supportedVersions": ["0.1.0"]}),
        "calico": "not json",
        "portmap": json.dumps({"cniVersion": "1.0.0", "supportedVersions": ["1.0.0"]}),
        "host-local": json.dumps({"cniVersion": "1.0.0", "supportedVersions": ["1.0.0"]}),
    }
    errors = cni_plugins_version_errors(answers, "0.3.1", {"loopback": "0.2.0"}, required=["calico", "portmap"])
    assert "loopback must support CNI version 0.2.0 or later (supports 0.1.0)" in errors
    assert any(error.startswith("calico did not answer CNI_COMMAND=VERSION") for error in errors)
    assert "portmap does not support CNI version 0.3.1 (supports 1.0.0)" in errors
    assert not any(error.startswith("host-local") for error in errors)


def test_calico_conflist_filter():
    from ansible_collections.podnet.calico.plugins.filter.cni_plugins import cni_plugins_calico_conflist
    conf = cni_plugins_calico_conflist({"datastore": "kubernetes", "mtu": "1450", "nodename": "node1",
                                        "bandwidth": "false", "portmap": "true"})
    assert [plugin["type"] for plugin in conf["plugins"]] == ["calico", "portmap"]
    assert conf["plugins"][0]["mtu"] == 1450
    assert cni_plugins_conflist_errors(conf) == []


@pytest.mark.parametrize("settings, message", [
    ("text", "expects a dictionary of settings, got str"),
    ({"nodename": "n", "colour": "red"}, "unknown settings colour"),
    ({"nodename": "n", "bandwidth": "perhaps"}, "bandwidth must be a boolean, got 'perhaps'"),
    ({"nodename": "n", "mtu": "x"}, "mtu must be an integer, got 'x'"),
])
def test_calico_conflist_filter_errors(settings, message):
    from ansible.errors import AnsibleFilterError

    from ansible_collections.podnet.calico.plugins.filter.cni_plugins import cni_plugins_calico_conflist
    with pytest.raises(AnsibleFilterError) as err:
        cni_plugins_calico_conflist(settings)
    assert message in str(err.value)
