# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja faces of the kubelet_cni editors (the logic is in module_utils/cluster/_kubelet_cni.py)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.podnet.calico.plugins.module_utils.cluster import _kubelet_cni as editors


def _face(function):
    def face(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except editors.KubeletCniError as exc:
            raise AnsibleFilterError(str(exc)) from exc
    face.__name__ = function.__name__
    face.__doc__ = function.__doc__
    return face


kubelet_cni_flags = _face(editors.kubelet_cni_flags)
kubelet_cni_containerd = _face(editors.kubelet_cni_containerd)
kubelet_cni_static_pod = _face(editors.kubelet_cni_static_pod)


class FilterModule:
    """Filters of the kubelet_cni role."""

    def filters(self):
        return {
            'kubelet_cni_flags': kubelet_cni_flags,
            'kubelet_cni_containerd': kubelet_cni_containerd,
            'kubelet_cni_static_pod': kubelet_cni_static_pod,
        }
