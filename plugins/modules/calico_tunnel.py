#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: calico_tunnel
short_description: Calico's tunnel devices (vxlan.calico, tunl0) and their VXLAN peers
version_added: 0.1.0
description:
  - Creates, repairs, lists and removes the tunnel device Calico uses to reach other nodes' blocks.
  - O(config[].type=vxlan) builds C(vxlan.calico) as Felix does; VNI 4096, UDP port 4789, learning off,
    a MAC of V(0x66) followed by the first 5 bytes of sha1(node name) (node C(node1) gives
    V(66:f9:37:c3:7e:94)), the tunnel address as a single address from the node's block, the MTU, the
    underlay device and local address. Each peer (another node's VTEP) becomes a permanent ARP entry
    (VTEP address to VTEP MAC) and a permanent FDB entry (VTEP MAC to the peer's underlay address) on
    the device. Routes to the peers' blocks (C(via <vtep-ip> dev vxlan.calico onlink)) are made by
    M(podnet.calico.calico_route).
  - O(config[].type=ipip) configures C(tunl0), the kernel's IPIP fallback device, with its address and MTU.
    Where the kernel has no IPIP support (C(ip link add type ipip) fails) the module fails with a message
    saying so.
  - VNI, port, underlay device and local address cannot be changed on a live VXLAN device; when they
    differ the device is recreated (routes through it must then be programmed again). MAC, MTU, address
    and peers are repaired in place.
  - Owned devices are C(vxlan.calico) and C(vxlan-v6.calico) of type vxlan, and C(tunl0), which is only
    touched when listed. A VXLAN device of another name needs O(force=true).
  - Every change is journaled and undone in reverse when a later step fails. A device that is removed or
    recreated is read completely first (link, addresses, ARP and FDB entries, routes through it), and the
    undo builds it again from that; the error says exactly what could not be undone.
extends_documentation_fragment:
  - podnet.calico.attributes
  - podnet.calico.attributes.full
  - podnet.calico.attributes.linux
  - podnet.calico.netns
  - podnet.calico.force
options:
  state:
    description:
      - V(merged) creates or repairs the listed tunnels, adds the listed address and adds or fixes the listed
        peers; it never removes an address or a peer that is not listed.
      - V(replaced) makes each listed tunnel exactly as given; other IPv4 addresses and, when
        O(config[].peers) is given, unlisted peers are removed.
      - V(overridden) does what V(replaced) does and removes owned VXLAN devices that are not listed.
      - V(deleted) removes the listed VXLAN devices, or only the listed peers when O(config[].peers) is
        given; for C(tunl0) it removes its addresses and sets it down. With an empty O(config) it removes
        every owned VXLAN device.
      - V(gathered) changes nothing and returns the listed tunnels, or all of C(vxlan.calico),
        C(vxlan-v6.calico) and C(tunl0) that exist.
    type: str
    choices: [merged, replaced, overridden, deleted, gathered]
    default: merged
  config:
    description:
      - The tunnels, at most one per device name.
    type: list
    elements: dict
    default: []
    suboptions:
      type:
        description:
          - Tunnel kind.
        type: str
        choices: [vxlan, ipip]
        required: true
      name:
        description:
          - Device name. Default V(vxlan.calico) for VXLAN; IPIP is always V(tunl0).
        type: str
      node_name:
        description:
          - Kubernetes node name, from which the VXLAN MAC is derived as Calico does.
          - One of O(config[].node_name) and O(config[].mac) is required for a VXLAN device with
            O(state=merged) and O(state=overridden).
        type: str
      mac:
        description:
          - Explicit VXLAN device MAC instead of the derived one.
        type: str
      vni:
        description:
          - VXLAN network identifier.
        type: int
        default: 4096
      port:
        description:
          - VXLAN UDP destination port.
        type: int
        default: 4789
      address:
        description:
          - Tunnel address, one address from the node's block (V(10.65.0.0) or V(10.65.0.0/32)). With
            O(state=replaced) and O(state=overridden) other IPv4 addresses on the device are removed.
        type: str
      mtu:
        description:
          - Device MTU (68-65535); Calico uses the underlay MTU minus 50 for VXLAN and minus 20 for IPIP.
        type: int
      underlay_dev:
        description:
          - Underlay interface the VXLAN packets leave by.
        type: str
      underlay_ip:
        description:
          - Local underlay IPv4 address, the source of VXLAN packets.
        type: str
      peers:
        description:
          - Other nodes' VTEPs. Not set means peers are left as they are.
        type: list
        elements: dict
        suboptions:
          vtep_ip:
            description: The peer's tunnel address.
            type: str
            required: true
          vtep_mac:
            description: The peer's VXLAN device MAC.
            type: str
            required: true
          underlay_ip:
            description: The peer node's underlay address.
            type: str
            required: true
requirements:
  - pyroute2 >= 0.7.2 on the target (Debian 12's C(python3-pyroute2) or C(pip install pyroute2)).
seealso:
  - module: podnet.calico.calico_route
  - module: podnet.calico.calico_dataplane_info
author:
  - podnet.calico contributors (@podnet)
'''

EXAMPLES = r'''
- name: VXLAN device of node1 with its two peers
  podnet.calico.calico_tunnel:
    netns: node1
    state: overridden
    config:
      - type: vxlan
        node_name: node1
        address: 10.65.0.0
        mtu: 1450
        underlay_dev: eth0
        underlay_ip: 192.168.50.11
        peers:
          - vtep_ip: 10.65.0.64
            vtep_mac: 66:3b:1c:0a:9e:52
            underlay_ip: 192.168.50.12
          - vtep_ip: 10.65.0.128
            vtep_mac: 66:0d:f5:4b:73:11
            underlay_ip: 192.168.50.13

- name: IPIP (fails with a clear message where the kernel has no ipip)
  podnet.calico.calico_tunnel:
    netns: node1
    config:
      - type: ipip
        address: 10.65.0.1
        mtu: 1480

- name: Forget one peer
  podnet.calico.calico_tunnel:
    netns: node1
    state: deleted
    config:
      - type: vxlan
        peers:
          - vtep_ip: 10.65.0.128
            vtep_mac: 66:0d:f5:4b:73:11
            underlay_ip: 192.168.50.13
'''

RETURN = r'''
extends_documentation_fragment:
  - podnet.calico.dataplane.result
# from that fragment: returned and type of every entry, the description of changes, all of not_undone
before:
  description:
    - The tunnels this task is about (the listed ones and those it removes) as they were before it;
      absent ones are left out. With O(state=gathered), the gathered tunnels.
  sample: [{name: vxlan.calico, type: vxlan, vni: 4096, port: 4789, mac: "66:f9:37:c3:7e:94", mtu: 1450}]
  contains:
    type:
      description: Tunnel kind.
      type: str
      sample: vxlan
    name:
      description: Device name.
      type: str
      sample: vxlan.calico
    ifindex:
      description: Device index (null in check mode for a new device).
      type: int
      sample: 5
    mac:
      description: Device MAC.
      type: str
      sample: 66:f9:37:c3:7e:94
    mtu:
      description: Device MTU.
      type: int
      sample: 1450
    up:
      description: Whether the device is up.
      type: bool
      sample: true
    addresses:
      description: IPv4 addresses of the device.
      type: list
      elements: str
      sample: [10.65.0.0/32]
    vni:
      description: VXLAN network identifier (null for IPIP).
      type: int
      sample: 4096
    port:
      description: VXLAN UDP port (null for IPIP).
      type: int
      sample: 4789
    underlay_ip:
      description: Local underlay address.
      type: str
      sample: 192.168.50.11
    underlay_dev:
      description: Underlay device.
      type: str
      sample: eth0
    peers:
      description: Permanent ARP entries of the device with the FDB destination of each MAC.
      type: list
      elements: dict
      sample: [{vtep_ip: 10.65.0.64, vtep_mac: 66:3b:1c:0a:9e:52, underlay_ip: 192.168.50.12}]
after:
  description:
    - The same tunnels after the task (predicted in check mode), in the same form as RV(before);
      removed ones are left out.
  sample: [{name: vxlan.calico, type: vxlan, vni: 4096, port: 4789, mac: "66:f9:37:c3:7e:94", mtu: 1450}]
changes:
  sample:
    - 'create vxlan.calico (vxlan, VNI 4096, port 4789)'
    - 'set vxlan.calico up'
    - 'add 10.65.0.0/32 to vxlan.calico'
gathered:
  description: The tunnels read, in the form of RV(before).
  sample: [{name: vxlan.calico, type: vxlan, vni: 4096, port: 4789}]
diff:
  description: Before and after of every changed tunnel, keyed by device name (null when absent).
  contains:
    before:
      description: The changed tunnels as they were.
      type: dict
    after:
      description: The changed tunnels after the task.
      type: dict
'''

from ansible_collections.podnet.calico.plugins.module_utils._ansible import dataplane_module, run_engine, tunnel_spec
from ansible_collections.podnet.calico.plugins.module_utils.dataplane._tunnel import TunnelManager


def main():
    module = dataplane_module(**tunnel_spec())
    p = module.params
    run_engine(module, lambda cache: TunnelManager(p['netns'], module.check_mode, cache, p['force']))


if __name__ == '__main__':
    main()
