# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""calico_dataplane's pure parts: the sysctl file text as ansible.posix.sysctl writes it, the journal
shared by sections (changes tagged, rollback across them), section names in error messages."""

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.dataplane._base import InputError, Journal, RunFailed, fail_with_rollback
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._forwarding import file_value, fixed_text
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._netns import DataplaneError
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._node import section_error, section_message

KEY = "net.ipv4.ip_forward"


@pytest.mark.parametrize("lines, text", [
    ([], "net.ipv4.ip_forward=1\n"),
    (["# c", "", "kernel.a = 2"], "# c\n\nkernel.a=2\nnet.ipv4.ip_forward=1\n"),
    (["  net.ipv4.ip_forward = 0 ", "x=1", "net.ipv4.ip_forward=0", "x=2", "no equals"],
     "net.ipv4.ip_forward=1\nx=1\nno equals\n"),
    (["; semi", "net.ipv4.ip_forward=1"], "; semi\nnet.ipv4.ip_forward=1\n"),
])
def test_fixed_text_is_ansible_posix_sysctls(lines, text):
    assert fixed_text(lines, KEY, 1) == text


def test_file_value_is_the_last_assignment():
    assert file_value([], KEY) is None
    assert file_value(["# net.ipv4.ip_forward=1"], KEY) is None
    assert file_value(["net.ipv4.ip_forward = 0", "net.ipv4.ip_forward=1 "], KEY) == "1"


def test_a_shared_journal_tags_changes_and_rolls_back_every_section():
    done = []
    journal = Journal()
    journal.tag = "veths"
    journal.do("create a", lambda: done.append("a"), lambda: done.remove("a"))
    journal.last("remove stale", lambda: done.append("stale removed"))
    journal.tag = "routes"
    journal.do("add r", lambda: done.append("r"), lambda: done.remove("r"))
    assert journal.changes_of("veths") == ["create a"] and journal.changes_of("routes") == ["add r"]
    with pytest.raises(RunFailed) as err:
        fail_with_rollback(journal, DataplaneError("routes: refused"))
    assert done == [] and "every change this run had made was undone (2)" in str(err.value)
    assert not err.value.changed

    journal = Journal()
    journal.tag = "veths"
    journal.last("remove stale", lambda: done.append("stale removed"))
    journal.tag = "routes"
    journal.do("add r", lambda: None)
    journal.commit()
    assert journal.changes_of("veths") == ["remove stale"] and journal.tag == "veths"


@pytest.mark.parametrize("text, expected", [
    ("config[3].via: gateway x", "routes.config[3].via: gateway x"),
    ("state: 'x' is not one of", "routes.state: 'x' is not one of"),
    ("proto: route protocol 3", "routes.proto: route protocol 3"),
    ("creating vxlan.calico failed", "routes: creating vxlan.calico failed"),
    ("routes.config[0]: x", "routes.config[0]: x"),
])
def test_section_message(text, expected):
    assert section_message("routes", DataplaneError(text)) == expected


def test_section_error_keeps_the_kind():
    assert isinstance(section_error("veths", InputError("config[0].mtu: x")), InputError)
    assert not isinstance(section_error("veths", DataplaneError("x")), InputError)
