# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Return values the data-plane resource modules share (calico_veth, proxy_arp, calico_route, calico_tunnel).
# Keep in step with the result shape of plugins/module_utils/dataplane/_base.py and fail_error in
# plugins/module_utils/_ansible.py.
#
# Only top-level entries can be shared: ansible-core merges a fragment into a module's RETURN (and
# options) one level deep, the module's keys winning. So calico_dataplane's sections, whose suboptions
# repeat those of the single modules one level further down, keep their own text.


class ModuleDocFragment(object):

    # podnet.calico.dataplane.journal, in a module's RETURN: what its undo journal reports. The module
    # adds the sample of RV(changes), lines of its own kind.
    JOURNAL = r'''
changes:
  description:
    - One line per kernel change, in the order they were made (would be made, in check mode).
  returned: always
  type: list
  elements: str
not_undone:
  description:
    - On failure, the changes of this run that could not be undone (empty when all were).
  returned: failure
  type: list
  elements: str
  sample: []
'''
