# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's node probe (lab_probe): the pings it sends and the text it returns, which the lab's
observations read exactly as they read the former shell probe's output."""

from __future__ import annotations

import json
import subprocess

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.lab._observations import observations
from ansible_collections.podnet.calico.plugins.module_utils.lab._probe import (
    ProbeError,
    arp_argv,
    check_pods,
    compose,
    answered,
    ping_argv,
    probe,
    targets_of,
)

PODS = [{"netns": "pod-default.p1", "ip": "10.244.0.1"}, {"netns": "pod-default.p2", "ip": "10.244.0.2"}]
IPS = ["10.244.0.1", "10.244.0.2", "10.244.0.65"]
ADDRESSES = [{"ifname": "eth0", "addr_info": [{"family": "inet", "local": "10.89.0.11"}]},
             {"ifname": "cali0000000000a", "addr_info": [{"family": "inet6", "local": "fe80::1", "scope": "link"}]}]
ARP = "ARPING 169.254.1.1\nUnicast reply from 169.254.1.1 [EE:EE:EE:EE:EE:EE]  0.6ms\nSent 1 probe(s)\n"


def test_every_pod_pings_every_other_address_from_one_shell():
    assert targets_of(PODS[0], IPS) == ["10.244.0.2", "10.244.0.65"]
    argv = ping_argv("pod-default.p1", ["10.244.0.2", "10.244.0.65"])
    assert argv[:7] == ["ip", "netns", "exec", "pod-default.p1", "sh", "-c", argv[6]]
    # The addresses are the shell's arguments, after $0.
    assert argv[7:] == ["sh", "10.244.0.2", "10.244.0.65"]
    assert arp_argv("pod-default.p1")[-5:] == ["-w", "2", "-I", "eth0", "169.254.1.1"]


def test_the_ping_script_runs_in_a_real_shell():
    # The script after "ip netns exec <ns>", run here: 127.0.0.1 answers; 256.0.0.1 is no address,
    # so ping fails at once and sends nothing; an argument that looks like code stays an argument.
    argv = ping_argv("unused", ["127.0.0.1", "256.0.0.1", "$(touch /nonexistent/x)"])[4:]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout
    assert answered(out) == {"127.0.0.1"}
    assert sorted(out.splitlines()) == ["$(touch /nonexistent/x) fail", "127.0.0.1 ok", "256.0.0.1 fail"]


def test_probe_keeps_the_order_and_reads_each_pods_answers():
    calls = []

    def run(argv):
        calls.append(argv)
        if argv[4:5] == ["sh"]:
            # Answers out of order, as background pings finish; only 10.244.0.65 answers p2.
            ok = {"pod-default.p1": {"10.244.0.65", "10.244.0.2"}, "pod-default.p2": {"10.244.0.65"}}[argv[3]]
            return 0, "".join("%s %s\n" % (ip, "ok" if ip in ok else "fail") for ip in reversed(argv[8:])), ""
        return 0, "[]\n" if argv[:2] == ["ip", "-j"] else ARP, ""

    text = probe(PODS, IPS, run)
    assert text.splitlines()[:5] == ["== ping", "pod-default.p1 10.244.0.2 ok", "pod-default.p1 10.244.0.65 ok",
                                     "pod-default.p2 10.244.0.1 fail", "pod-default.p2 10.244.0.65 ok"]
    # One shell per pod, then the node's addresses, then one arping per pod.
    assert [argv[4] if len(argv) > 4 else argv[2] for argv in calls] == ["sh", "sh", "addr", "arping", "arping"]


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
