# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""calico_ipam_batches: the nodes' tunnel-address claims grouped by the IPAM settings they need.

The filter replaced a Jinja loop of roles/calico_node/tasks/ipam.yml; that loop is kept here (REFERENCE)
and rendered by Ansible's templar over the same nodes, and the filter must give exactly its result.
"""

from __future__ import annotations

import re

import pytest

from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from hypothesis import given, settings as hsettings, strategies as st

from ansible_collections.podnet.calico.plugins.filter.calico_ipam_batches import calico_ipam_batches

#: calico_node__tunnel_batches as roles/calico_node/tasks/ipam.yml computed it before the filter
REFERENCE = """\
{%- set batches = [] -%}
{%- for host in ansible_play_hosts if hostvars[host].calico_node__tunnel_handle -%}
{%- set settings = hostvars[host].calico_node__ipam_settings -%}
{%- set claim = {'handle': hostvars[host].calico_node__tunnel_handle, 'node': hostvars[host].calico_node__node,
                 'attributes': {'node': hostvars[host].calico_node__node,
                                'type': hostvars[host].calico_node__tunnel_type}} -%}
{%- set same = batches | selectattr('settings', 'equalto', settings) | list -%}
{%- if same -%}
{%- set _ = same[0].handles.append(claim) -%}
{%- else -%}
{%- set _ = batches.append({'settings': settings, 'handles': [claim]}) -%}
{%- endif -%}
{%- endfor -%}
{{ batches }}"""


def settings(**over):
    base = {"pool": "10.244.0.0/16", "block_size": 26, "strict_affinity": False, "datastore": "sqlite",
            "sqlite_path": "/var/lib/podnet/ipam.sqlite", "etcd_endpoints": [], "etcd_ca_cert": "",
            "etcd_cert": "", "etcd_key": ""}
    base.update(over)
    return base


ETCD = settings(datastore="etcd", sqlite_path="", etcd_endpoints=["https://10.89.0.2:2379"],
                etcd_ca_cert="/etc/ca.pem", etcd_cert="/etc/node.pem", etcd_key="/etc/node-key.pem")


def node(name, encapsulation="vxlan", **over):
    """A node as the role's set_fact leaves it: (name, the old facts, the claim the filter reads)."""
    handle = "%s-tunnel-addr-%s" % (encapsulation, name) if encapsulation != "none" else ""
    ipam = over.pop("ipam", None) or settings()
    facts = {"calico_node__node": name, "calico_node__tunnel_handle": handle,
             "calico_node__tunnel_type": encapsulation + "TunnelAddress", "calico_node__ipam_settings": ipam}
    claim = {"handle": handle, "node": name, "attributes": {"node": name, "type": encapsulation + "TunnelAddress"},
             "settings": ipam}
    return name, facts, claim


def reference(nodes):
    templar = Templar(loader=DataLoader(), variables={
        "ansible_play_hosts": [name for name, _facts, _claim in nodes],
        "hostvars": dict((name, facts) for name, facts, _claim in nodes)})
    return templar.template(trust_as_template(REFERENCE))


CASES = {
    "one batch": [node("node1"), node("node2"), node("node3")],
    "no nodes": [],
    "no tunnels": [node("node1", "none"), node("node2", "none")],
    "some without tunnel": [node("node1", "none"), node("node2"), node("node3", "none"), node("node4")],
    "ipip": [node("node1", "ipip"), node("node2", "ipip")],
    "two datastores interleaved": [node("node1"), node("node2", ipam=ETCD), node("node3"), node("node4", ipam=ETCD)],
    "settings differing in one field each": [
        node("a"), node("b", ipam=settings(block_size=28)), node("c", ipam=settings(strict_affinity=True)),
        node("d", ipam=settings(pool="10.245.0.0/16")), node("e"), node("f", ipam=settings(block_size=28))],
    "equal settings, keys in another order": [node("a"), node("b", ipam=dict(reversed(list(settings().items()))))],
}


@pytest.mark.parametrize("nodes", list(CASES.values()), ids=list(CASES))
def test_same_batches_as_the_jinja_it_replaced(nodes):
    expected = reference(nodes)
    assert calico_ipam_batches([claim for _name, _facts, claim in nodes]) == expected


def test_batches_in_order_of_first_node_with_their_claims_in_node_order():
    nodes = CASES["two datastores interleaved"]
    batches = calico_ipam_batches([claim for _name, _facts, claim in nodes])
    assert [b["settings"]["datastore"] for b in batches] == ["sqlite", "etcd"]
    assert [[h["handle"] for h in b["handles"]] for b in batches] == [
        ["vxlan-tunnel-addr-node1", "vxlan-tunnel-addr-node3"], ["vxlan-tunnel-addr-node2", "vxlan-tunnel-addr-node4"]]
    assert batches[0]["handles"][0] == {"handle": "vxlan-tunnel-addr-node1", "node": "node1",
                                        "attributes": {"node": "node1", "type": "vxlanTunnelAddress"}}


def test_the_input_is_left_as_it_was():
    claims = [claim for _name, _facts, claim in CASES["two datastores interleaved"]]
    before = [dict(c) for c in claims]
    calico_ipam_batches(claims)
    assert claims == before


NAMES = st.sampled_from(["node%d" % i for i in range(1, 9)])
IPAMS = st.sampled_from([settings(), ETCD, settings(block_size=28), settings(strict_affinity=True)])


@hsettings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(NAMES, st.sampled_from(["vxlan", "ipip", "none"]), IPAMS), max_size=8,
                unique_by=lambda t: t[0]))
def test_same_batches_as_the_jinja_for_any_play(spec):
    nodes = [node(name, encapsulation, ipam=ipam) for name, encapsulation, ipam in spec]
    assert calico_ipam_batches([claim for _name, _facts, claim in nodes]) == reference(nodes)


def test_any_iterable_of_claims():   # map('extract', hostvars, ...) gives a generator
    claims = [claim for _name, _facts, claim in CASES["one batch"]]
    assert calico_ipam_batches(iter(claims)) == calico_ipam_batches(claims)


@pytest.mark.parametrize("claims,named", [
    ("vxlan-tunnel-addr-node1", "a list"),
    ({"handle": "vxlan-tunnel-addr-node1"}, "a list"),
    ([["vxlan-tunnel-addr-node1"]], "claims[0] is not a dict"),
    ([{"handle": "vxlan-tunnel-addr-node1", "node": "node1"}], "claims[0] (vxlan-tunnel-addr-node1) has no settings"),
])
def test_bad_input_is_named(claims, named):
    with pytest.raises(AnsibleFilterError, match="calico_ipam_batches: .*" + re.escape(named)):
        calico_ipam_batches(claims)
