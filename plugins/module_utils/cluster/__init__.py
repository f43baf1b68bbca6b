# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# What the cluster roles edit on a node (private to the collection). Plain Python, no Ansible import.
#
# _kubelet_cni.py  careful editors of kubelet/kube-controller-manager flags, containerd's TOML and
#                  static pod manifests (the kubelet_cni role's filters are their faces)
