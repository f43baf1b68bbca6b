# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Calico's facts in plain Python, each in one place: names and constants (_names), the MTU rule
(_mtu), the per-node plan (_plan) and the CNI
network configuration list (_cniconf: 10-calico.conflist for the cni_plugins role, the manifest and the
CNI plugin). Private to the podnet.calico collection."""
