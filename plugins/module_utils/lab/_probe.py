# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a person runs by hand on a lab node before reading its data plane (private to the collection).

From each pod: ping every other pod's address once, and ARP for the pods' gateway; on the node:
``ip -j addr show``. probe() runs one shell per pod in the pod's namespace, which pings every other
address at once (each ping with a one second timeout: a node with a broken path waits one second per
pod, not per address), then the node's and the gateway's commands, and returns their output as the
text the lab's observations read
(_observations.observations, its ``probe_output``): "== ping" with lines "<pod netns> <ip> ok|fail",
"== addresses" with the JSON of ``ip -j addr show``, and "== arp <pod netns>" with arping's output
per pod. Plain Python, no Ansible import; the commands run through a runner given by the caller.
"""

from __future__ import annotations

from ansible_collections.podnet.calico.plugins.module_utils.calico._names import POD_GATEWAY


class ProbeError(ValueError):
    """Input that cannot be probed, with a message naming the option and value."""


def check_pods(pods, ips):
    """Validate the probe's input: pods with netns (and ip), every address a string."""
    if not isinstance(pods, list):
        raise ProbeError("pods: expects a list, got %r" % (pods,))
    for pod in pods:
        if not isinstance(pod, dict) or not pod.get("netns"):
            raise ProbeError("pods: every pod needs a netns, got %r" % (pod,))
    for ip in ips:
        if not isinstance(ip, str) or not ip:
            raise ProbeError("ips: expects addresses, got %r" % (ip,))


# One shell per pod: a ping per address in the background, a line "<ip> ok|fail" each (short lines,
# written whole), then wait. The addresses are the shell's positional parameters, never code.
PING_SCRIPT = ('for ip do (if ping -c 1 -W 1 "$ip" >/dev/null 2>&1; then echo "$ip ok"; '
               'else echo "$ip fail"; fi) & done; wait')


def ping_argv(netns, ips):
    return ["ip", "netns", "exec", netns, "sh", "-c", PING_SCRIPT, "sh"] + list(ips)


def answered(output):
    """The addresses that answered, from the output of PING_SCRIPT."""
    ok = set()
    for line in output.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1] == "ok":
            ok.add(fields[0])
    return ok


def arp_argv(netns):
    return ["ip", "netns", "exec", netns, "arping", "-c", "1", "-w", "2", "-I", "eth0", POD_GATEWAY]


def targets_of(pod, ips):
    """The addresses a pod pings: every address but its own, in order."""
    return [ip for ip in ips if ip != pod.get("ip")]


def compose(pings, addresses, arps):
    """The probe's text from its results.

    ``pings``: [(netns, ip, answered)], ``addresses``: the output of ``ip -j addr show``,
    ``arps``: [(netns, arping output)].
    """
    lines = ["== ping"]
    lines += ["%s %s %s" % (netns, ip, "ok" if answered else "fail") for netns, ip, answered in pings]
    lines += ["== addresses", addresses.rstrip("\n"), ""]
    for netns, output in arps:
        lines.append("== arp %s" % netns)
        if output.rstrip("\n"):
            lines.append(output.rstrip("\n"))
    return "\n".join(lines) + "\n"


def probe(pods, ips, run):
    """Run the probe on this node; return its text (see the module's docstring).

    ``run(argv)`` runs a command and returns (rc, stdout, stderr) (an AnsibleModule's run_command).
    """
    check_pods(pods, ips)
    pings = []
    for pod in pods:
        targets = targets_of(pod, ips)
        if not targets:
            continue
        ok = answered(run(ping_argv(pod["netns"], targets))[1])
        pings += [(pod["netns"], ip, ip in ok) for ip in targets]
    rc, out, err = run(["ip", "-j", "addr", "show"])
    if rc != 0:
        raise ProbeError("ip -j addr show failed (rc %s): %s" % (rc, err.strip()))
    arps = []
    for pod in pods:
        rc, aout, aerr = run(arp_argv(pod["netns"]))
        arps.append((pod["netns"], aout + aerr))
    return compose(pings, out, arps)
