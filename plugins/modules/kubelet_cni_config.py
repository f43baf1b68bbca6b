#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: kubelet_cni_config
short_description: Point the kubelet or containerd at CNI, or stop kube-controller-manager's node CIDRs, in one task
version_added: 1.1.0
description:
  - Reads a service's flag files on the node, edits them and writes what differs, in one task. The
    role P(podnet.calico.kubelet_cni#role) uses it for each of its entry points.
  - With O(service=kubelet), before Kubernetes 1.24 (O(kube_version)) the flags O(set_flags) go into
    the first existing file of O(files), and one of them must exist; from 1.24 on the kubelet gets no
    network flags and containerd's config O(containerd_config) gets the CNI directories O(bin_dir) and
    O(conf_dir) in its CRI plugin (config versions 1, 2 and 3; a missing file is created, version 2,
    mode V(0644)).
  - With O(service=kube-controller-manager), O(set_flags) go into the first existing file of O(files)
    and into the container C(kube-controller-manager) of the static pod O(static_pod); at least one of
    them must exist. No backup file is left beside the manifest (the kubelet would run it as a second pod).
  - In every case the flags of O(remove_flags) and O(set_flags) leave all the other files of O(files).
  - The edits are those of the filters P(podnet.calico.kubelet_cni_flags#filter),
    P(podnet.calico.kubelet_cni_containerd#filter) and P(podnet.calico.kubelet_cni_static_pod#filter)
    (one implementation). Everything else in the files is kept byte for byte; a file is written only when
    its text changes, to a temporary file renamed over it, keeping its mode; a failure undoes what the
    task changed. Nothing is written when an edit is refused.
  - RV(restart) names the services whose configuration changed, for handlers.
extends_documentation_fragment:
  - podnet.calico.attributes
  - podnet.calico.attributes.full
  - podnet.calico.attributes.posix
options:
  service:
    description:
      - Whose configuration to edit. V(kubelet) also edits containerd's config from Kubernetes 1.24 on.
    type: str
    choices: [kubelet, kube-controller-manager]
    default: kubelet
  kube_version:
    description:
      - Kubernetes version of the cluster, such as V(1.30.2) (a leading V(v) is accepted). Required with
        O(service=kubelet); before 1.24 the kubelet's own flags select CNI, from 1.24 on containerd does.
    type: raw
  files:
    description:
      - Files that may hold the service's flags (environment files, systemd units and drop-ins), in order
        of preference. Missing ones are skipped.
    type: list
    elements: path
    required: true
  env_vars:
    description:
      - Names of the environment variables that hold the flags in environment files, in order of preference.
      - When empty, C(KUBELET_KUBEADM_ARGS), C(KUBELET_EXTRA_ARGS), C(KUBELET_ARGS) and C(KUBELET_OPTS).
    type: list
    elements: str
    default: []
  set_flags:
    description:
      - Flags to set (name with its leading C(--), value), in the first existing file of O(files).
      - With O(service=kubelet), used only before Kubernetes 1.24.
    type: dict
    default: {}
  remove_flags:
    description: Flags to remove from every file of O(files).
    type: list
    elements: str
    default: []
  containerd_config:
    description:
      - containerd's C(config.toml), edited with O(service=kubelet) from Kubernetes 1.24 on. Not edited when not given.
    type: path
  bin_dir:
    description: CNI plugin directory for containerd's config.
    type: path
    default: /opt/cni/bin
  conf_dir:
    description: CNI configuration directory for containerd's config.
    type: path
    default: /etc/cni/net.d
  static_pod:
    description:
      - Static pod manifest of kube-controller-manager (kubeadm clusters), edited when it exists.
        Only with O(service=kube-controller-manager).
    type: path
requirements:
  - tomllib (Python 3.11 or later) or tomli on the node, to check containerd's config (without either, the
    edit is made unchecked, with a warning).
  - PyYAML on the node, to edit a static pod manifest.
attributes:
  diff_mode:
    details:
      - One diff per changed path.
seealso:
  - module: podnet.calico.node_files
    description: Writes given contents; this module computes them from what is on the node.
author:
  - podnet.calico contributors (@podnet)
'''

EXAMPLES = r'''
- name: Point the kubelet or containerd at the CNI directories
  podnet.calico.kubelet_cni_config:
    service: kubelet
    kube_version: "1.30.2"
    files:
      - /var/lib/kubelet/kubeadm-flags.env
      - /etc/default/kubelet
    set_flags:
      --network-plugin: cni
      --cni-conf-dir: /etc/cni/net.d
      --cni-bin-dir: /opt/cni/bin
    remove_flags: [--pod-cidr, --network-plugin, --cni-conf-dir, --cni-bin-dir, --network-plugin-mtu]
    containerd_config: /etc/containerd/config.toml
  register: kubelet_config
  notify: restart containerd

- name: Stop kube-controller-manager from allocating node CIDRs
  podnet.calico.kubelet_cni_config:
    service: kube-controller-manager
    files: [/etc/systemd/system/kube-controller-manager.service]
    env_vars: [KUBE_CONTROLLER_MANAGER_ARGS]
    set_flags:
      --allocate-node-cidrs: "false"
    remove_flags: [--cluster-cidr]
    static_pod: /etc/kubernetes/manifests/kube-controller-manager.yaml
'''

RETURN = r'''
changed_paths:
  description: The paths made or written (or that would be, in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["/etc/containerd/config.toml"]
restart:
  description:
    - The services whose configuration changed (or would change, in check mode), among V(kubelet),
      V(containerd) and V(kube-controller-manager). A changed static pod manifest is not listed (the
      kubelet restarts the pod itself).
  returned: always
  type: list
  elements: str
  sample: ["containerd"]
flag_file:
  description: The file of O(files) that gets O(set_flags) (the first existing one), or null when none exists.
  returned: always
  type: str
  sample: /var/lib/kubelet/kubeadm-flags.env
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.podnet.calico.plugins.module_utils.cluster._files import FilesError, apply, diffs
from ansible_collections.podnet.calico.plugins.module_utils.cluster._kubelet_cni_config import (
    ConfigError, MissingLibrary, plan_config)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            service=dict(type='str', choices=['kubelet', 'kube-controller-manager'], default='kubelet'),
            kube_version=dict(type='raw'),
            files=dict(type='list', elements='path', required=True),
            env_vars=dict(type='list', elements='str', default=[]),
            set_flags=dict(type='dict', default={}),
            remove_flags=dict(type='list', elements='str', default=[]),
            containerd_config=dict(type='path'),
            bin_dir=dict(type='path', default='/opt/cni/bin'),
            conf_dir=dict(type='path', default='/etc/cni/net.d'),
            static_pod=dict(type='path'),
        ),
        required_if=[('service', 'kubelet', ['kube_version'])],
        supports_check_mode=True,
    )
    params = module.params
    try:
        planned = plan_config(params['service'], params['files'], set_flags=params['set_flags'],
                              remove_flags=params['remove_flags'], env_vars=params['env_vars'],
                              kube_version=params['kube_version'], containerd_config=params['containerd_config'],
                              bin_dir=params['bin_dir'], conf_dir=params['conf_dir'],
                              static_pod=params['static_pod'])
        actions = planned['actions']
        for warning in planned['warnings']:
            module.warn(warning)
        if actions and not module.check_mode:
            apply(actions)
    except MissingLibrary as exc:
        module.fail_json(msg=missing_required_lib(exc.library, reason=exc.reason), exception=exc.error)
    except (ConfigError, FilesError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg='kubelet_cni_config: %s' % exc)
    result = dict(changed=bool(actions), changed_paths=[action['path'] for action in actions],
                  restart=planned['restart'], flag_file=planned['flag_file'])
    if module._diff:
        result['diff'] = diffs(actions)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
