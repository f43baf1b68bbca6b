# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# The attributes every module of the collection declares, as ansible.builtin.action_common_attributes
# does it: DOCUMENTATION (podnet.calico.attributes) describes them; the named fragments below state a
# support level or a platform that several modules share. A module lists the fragments that fit it and
# declares under its own attributes: only what no fragment says (a support level of its own, details).
# Where a module and a fragment both set a key of one attribute, the module's value is the one shown.


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
attributes:
  check_mode:
    description: Can run in check mode and return a changed status prediction without modifying the target.
  diff_mode:
    description: Returns details on what has changed (or would change in check mode).
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
'''

    # podnet.calico.attributes.full: check mode and diff mode both fully supported.
    FULL = r'''
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
'''

    # podnet.calico.attributes.linux: the module runs on Linux targets only.
    LINUX = r'''
attributes:
  platform:
    platforms: linux
'''

    # podnet.calico.attributes.posix: the module runs on any POSIX target.
    POSIX = r'''
attributes:
  platform:
    platforms: posix
'''
