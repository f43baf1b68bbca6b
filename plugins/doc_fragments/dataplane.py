# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Return values the data-plane resource modules share (calico_veth, proxy_arp, calico_route, calico_tunnel).
# Keep in step with the result shape of plugins/module_utils/dataplane/_base.py and exit_result and
# fail_error in plugins/module_utils/_ansible.py.
#
# Only top-level entries can be shared: ansible-core merges a fragment into a module's RETURN (and
# options) one level deep, the module's keys winning. So calico_dataplane's sections, whose suboptions
# repeat those of the single modules one level further down, keep their own text.


class ModuleDocFragment(object):

    # podnet.calico.dataplane.result, in a module's RETURN: when each entry of the common result is
    # returned and its type, all of not_undone and the description of changes (the undo journal's). The
    # module adds what is its own: the descriptions that name its objects, the samples, the contains.
    RESULT = r'''
before:
  returned: always
  type: list
  elements: dict
after:
  returned: always
  type: list
  elements: dict
changes:
  description:
    - One line per kernel change, in the order they were made (would be made, in check mode).
  returned: always
  type: list
  elements: str
gathered:
  returned: when state is gathered
  type: list
  elements: dict
not_undone:
  description:
    - On failure, the changes of this run that could not be undone (empty when all were).
  returned: failure
  type: list
  elements: str
  sample: []
diff:
  returned: when diff mode is on and state is not gathered
  type: dict
'''
