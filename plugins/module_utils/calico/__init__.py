# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Calico facts for podnet.calico, in plain Python (private to the collection).
#
# _cniconf.py    Calico's CNI network configuration list (10-calico.conflist), built once for the
#                cni_plugins role, the manifest's cni_network_config and the CNI plugin
