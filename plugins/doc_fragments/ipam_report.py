# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# The filters of the IPAM report, shared by the module and the lookup calico_ipam_info. Keep in step
# with INFO_ARGUMENT_SPEC in plugins/module_utils/ipam/_info.py.


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  pool:
    description: Report only this pool (an IPv4 CIDR) and its blocks and handles.
    type: str
  node:
    description: Report only the handles with an address on this node (leaks included).
    type: str
  handle:
    description: Report only this handle.
    type: str
'''
