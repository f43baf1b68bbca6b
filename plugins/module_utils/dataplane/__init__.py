# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The data-plane engine in plain Python: namespaces (_netns, standard library only), netlink
(_netlink, pyroute2) and sysctl access (_sysctl, no pyroute2), the
resource-manager base with its undo journal (_base) and one engine per resource (_veth, _route,
_tunnel, _proxyarp, _info). Private to the podnet.calico collection."""
