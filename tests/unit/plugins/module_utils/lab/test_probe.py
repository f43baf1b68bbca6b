# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's node probe (lab_probe): the pings it sends and the text it returns, which the lab's
observations read exactly as they read the former shell probe's output."""

from __future__ import annotations

import json

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.lab._observations import observations
from ansible_collections.podnet.calico.plugins.module_utils.lab._probe import (
    ProbeError,
    arp_argv,
    check_pods,
    compose,
    ping_argv,
    pings_of,
)

PODS = [{"netns": "pod-default.p1", "ip": "10.244.0.1"}, {"netns": "pod-default.p2", "ip": "10.244.0.2"}]
IPS = ["10.244.0.1", "10.244.0.2", "10.244.0.65"]
ADDRESSES = [{"ifname": "eth0", "addr_info": [{"family": "inet", "local": "10.89.0.11"}]},
             {"ifname": "cali0000000000a", "addr_info": [{"family": "inet6", "local": "fe80::1", "scope": "link"}]}]
ARP = "ARPING 169.254.1.1\nUnicast reply from 169.254.1.1 [EE:EE:EE:EE:EE:EE]  0.6ms\nSent 1 probe(s)\n"


def test_every_pod_pings_every_other_address_in_order():
    assert pings_of(PODS, IPS) == [("pod-default.p1", "10.244.0.2"), ("pod-default.p1", "10.244.0.65"),
                                   ("pod-default.p2", "10.244.0.1"), ("pod-default.p2", "10.244.0.65")]
    assert ping_argv("pod-default.p1", "10.244.0.2") == [
        "ip", "netns", "exec", "pod-default.p1", "ping", "-c", "1", "-W", "1", "10.244.0.2"]
    assert arp_argv("pod-default.p1")[-5:] == ["-w", "2", "-I", "eth0", "169.254.1.1"]


def test_text_is_the_former_shell_probes():
    addresses = json.dumps(ADDRESSES) + "\n"
    text = compose([("pod-default.p1", "10.244.0.2", True), ("pod-default.p2", "10.244.0.1", False)],
                   addresses, [("pod-default.p1", ARP), ("pod-default.p2", "")])
    # What the shell script printed: echo "== ping", the ping lines, echo "== addresses", ip -j addr
    # show, echo, then "== arp <netns>" and arping's output for each pod.
    assert text == ("== ping\npod-default.p1 10.244.0.2 ok\npod-default.p2 10.244.0.1 fail\n== addresses\n"
                    + addresses + "\n== arp pod-default.p1\n" + ARP + "== arp pod-default.p2\n")


def _spec(probe_output):
    info = {
        "interfaces": [{"ifname": "cali0000000000a", "ifindex": 3, "peer_ifindex": 2, "kind": "veth",
                        "mac": "ee:ee:ee:ee:ee:ee", "master": None, "proxy_arp": True, "proxy_delay": 0,
                        "forwarding": True}],
        "workload_routes": [{"dst": "10.244.0.1/32", "dev": "cali0000000000a", "scope": "link", "type": "unicast"}],
        "block_routes": {"blackhole": [{"dst": "10.244.0.0/26", "type": "blackhole"}], "tunnel": [], "direct": []},
        "default_routes": [{"dst": "0.0.0.0/0", "via": "10.89.0.1", "dev": "eth0", "type": "unicast"}],
    }
    pod_info = [{"netns": "pod-default.p1", "interfaces": [
        {"ifname": "eth0", "ifindex": 2, "peer_ifindex": 3, "kind": "veth", "addresses": ["10.244.0.1/32"]}],
        "routes": [{"dst": "169.254.1.1/32", "dev": "eth0", "scope": "link"},
                   {"dst": "0.0.0.0/0", "via": "169.254.1.1", "dev": "eth0"}]}]
    pod = {"namespace": "default", "name": "p1", "netns": "pod-default.p1", "ip": "10.244.0.1",
           "host_ifname": "cali0000000000a"}
    return {"node": "node1", "info": info, "pod_info": pod_info, "pods": [pod], "probe_output": probe_output,
            "pool": "10.244.0.0/16", "block_size": 26, "blocks": ["10.244.0.0/26"], "other_nodes": []}


@pytest.mark.parametrize("answered", [True, False])
def test_observations_read_the_text(answered):
    text = compose([("pod-default.p1", "10.244.0.65", answered)], json.dumps(ADDRESSES) + "\n",
                   [("pod-default.p1", ARP)])
    rows = dict((r["observation"], r) for r in observations(_spec(text)))
    assert rows["ARP for 169.254.1.1 answered with the cali MAC"]["ok"]
    assert rows["host end has no master and no address"]["ok"]
    ping = rows["pings every other pod"]
    assert ping["ok"] is answered
    assert ping["detail"] == ("1 of 1 answered" if answered else "0 of 1 answered, no answer from 10.244.0.65")


def test_bad_input_names_the_option():
    with pytest.raises(ProbeError, match="pods: every pod needs a netns"):
        check_pods([{"ip": "10.244.0.1"}], IPS)
    with pytest.raises(ProbeError, match="ips: expects addresses"):
        check_pods(PODS, [""])
