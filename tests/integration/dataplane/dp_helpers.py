# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the data-plane tests: commands and `ip` views of namespaces."""

from __future__ import annotations

import json
import subprocess


def sh(*args, check=True):
    """Run a command (ip, arping, ping ...) and return its stdout."""
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(args), proc.returncode, proc.stderr))
    return proc.stdout


def links(netns):
    """{ifname: link json} of a namespace as `ip` sees it."""
    return dict((l["ifname"], l) for l in json.loads(sh("ip", "-j", "-d", "-n", netns, "link", "show")))


def addrs(netns, dev):
    data = json.loads(sh("ip", "-j", "-n", netns, "addr", "show", "dev", dev))
    return sorted("%s/%s" % (a["local"], a["prefixlen"]) for a in data[0]["addr_info"]
                  if not a["local"].startswith("fe80"))


def routes(netns, table="all"):
    """`ip route show table all` lines (IPv4) of a namespace, local table left out."""
    return [line.strip() for line in sh("ip", "-4", "-n", netns, "route", "show", "table", table).splitlines()
            if line.strip() and "table local" not in line]


def result_of(res, name):
    """The localhost result of the task called name."""
    hosts = res.results(name)
    assert "localhost" in hosts, "task %r not in results: %r" % (name, res)
    return hosts["localhost"]
