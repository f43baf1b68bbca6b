# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Keep in step with NETNS_ARGUMENT_SPEC in plugins/module_utils/dataplane/_base.py.


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  netns:
    description:
      - The network namespace the module works in, given by name (a file under C(/run/netns), as made by
        C(ip netns add)) or by path (for example V(/proc/1234/ns/net) or V(/var/run/netns/node1)).
      - When not set, the module works in the network namespace it runs in.
      - The namespace must exist; the module never creates one. A missing namespace is an error that
        names this option.
    type: str
notes:
  - Runs as root (or with C(CAP_NET_ADMIN) and C(CAP_SYS_ADMIN) for C(setns)) on Linux.
  - The module enters a namespace only to open its netlink socket (the modules that use netlink, which need
    pyroute2) and, where it reads or writes C(/proc/sys/net), for those file operations; it never mounts anything.
'''
