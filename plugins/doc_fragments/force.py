# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Keep in step with FORCE_ARGUMENT_SPEC in plugins/module_utils/dataplane/_base.py.


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  force:
    description:
      - Act on objects that do not carry this collection's mark, when the task names them.
      - The marks are the C(cali) prefix of workload interfaces, the route protocol of
        M(podnet.calico.calico_route) (default V(201)) and the device names C(vxlan.calico),
        C(vxlan-v6.calico) and C(tunl0).
      - Without it a task that names another object (an explicit C(host_ifname) such as C(eth0), a route
        slot held by a route of another protocol, a routing daemon's protocol, an interface pattern
        matching C(lo) or the uplink) fails before changing anything, with a message naming the option.
      - The kernel's own route protocols (0 to 4) are never taken as ours, even with O(force=true).
    type: bool
    default: false
'''
