#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: lab
short_description: Bring the podnet.calico namespace lab up or down on the machine that runs the task
version_added: 0.2.0
description:
  - Builds, in network namespaces only, an underlay bridge in a sink namespace (no forwarding, no
    default route), a controller-side namespace through which SSH connections enter the underlay, and
    O(nodes) nodes. Each node is a network namespace with its own mount and UTS namespaces (overlays
    on C(/etc), C(/opt), C(/var/lib), C(/var/log) and C(/root), a private C(/run)), its hostname and its own sshd.
  - Nothing is created in the namespace the module runs in (normally the host's own). Before anything
    is made, the module refuses when O(underlay_cidr) or a range in O(reserved_ranges) overlaps a route
    of that namespace, when the ranges overlap each other, or when a lab with other settings is up in
    O(state_dir) or under O(prefix).
  - O(state=absent) stops every process in the lab's namespaces and in the nodes' mount namespaces,
    deletes the namespaces and removes O(state_dir) (only when it carries the lab's marker file).
  - The state of the lab is kept in C(<state_dir>/lab.json); it is rewritten only when it changes.
  - Needs root. Runs where the task runs; use it on localhost with C(connection=local).
  - With O(inventory), it also writes the lab's inventory file (only when its content or mode differs),
    in the same task.
  - This is the lab's engine; the role C(podnet.calico.lab) wraps it.
extends_documentation_fragment:
  - podnet.calico.attributes
  - podnet.calico.attributes.full
  - podnet.calico.attributes.linux
options:
  state:
    description:
      - V(present) brings the lab up (idempotent), V(absent) removes every namespace, process and file it made.
    type: str
    choices: [present, absent]
    default: present
  prefix:
    description:
      - Prefix of the lab's namespace names, C(<prefix>-sink), C(<prefix>-ctl), C(<prefix>-<node>);
        1-8 lowercase letters or digits, starting with a letter.
    type: str
    default: pn
  state_dir:
    description:
      - Directory of the lab's files (SSH keys, sshd configs, overlay upper dirs, C(lab.json)).
    type: path
    required: true
  nodes:
    description:
      - Number of nodes, 1 to 200.
    type: int
    default: 3
  node_name:
    description:
      - Stem of the node names; nodes are called C(<stem>1), C(<stem>2), ...
    type: str
    default: node
  underlay_cidr:
    description:
      - The nodes' shared L2 network, inside the sink namespace. C(.1) is the sink (the nodes' default
        gateway), C(.2) the controller side, C(.11) and up the nodes.
    type: str
    default: 10.89.0.0/24
  reserved_ranges:
    description:
      - Other ranges the lab will use (for example its pod pool), only checked for overlaps with the
        host's routes and with O(underlay_cidr).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name of the range, used in error messages (for example V(lab_pod_cidr)).
        type: str
        required: true
      cidr:
        description: The range.
        type: str
        required: true
  ssh_port:
    description:
      - Port of the nodes' sshd.
    type: int
    default: 22
  containerd:
    description:
      - With O(state=present), also run containerd (Debian's) in every node's mount and network
        namespaces on the node's C(/etc/containerd/config.toml) (written by C(site.yml) in the lab),
        restart it when that file changed since it started, and import a pause image built from
        busybox-static (O(pause_image); no registry). Its socket is
        C(/proc/<sshd pid>/root/run/containerd/containerd.sock) from the host, its log
        C(<state_dir>/nodes/<node>/containerd.log). O(state=absent) stops it with everything else.
    type: bool
    default: false
  pause_image:
    description:
      - Name of the pause image imported into every node's containerd (the node's C(sandbox_image)).
    type: str
    default: localhost/podnet-pause:1
  etcd_server:
    description:
      - With O(state=present), also run etcd with TLS and client-certificate auth in the ctl namespace
        on C(https://<ctl address>:2379) (data and log in C(<state_dir>/etcd)), and a relay from
        C(127.0.0.1) of the namespace the module runs in to it, so that the controller reaches it
        without any address or route in its namespace. The endpoints are returned in RV(lab) (its C(etcd) key).
      - The server certificate must name the ctl address and C(127.0.0.1) and allow client auth too
        (etcd's gateway connects to itself with it).
    type: dict
    suboptions:
      cert_file:
        description: Server certificate (PEM).
        type: path
        required: true
      key_file:
        description: Its private key.
        type: path
        required: true
      ca_file:
        description: CA that signed the clients' certificates.
        type: path
        required: true
  inventory:
    description:
      - With O(state=present), also write an Ansible inventory of the lab (YAML, mode C(0600)) from the
        lab's state, when its content or mode differs. In check mode it is only compared, and only when
        the lab itself would not change (otherwise the lab's state is not known yet).
    type: dict
    version_added: 1.1.0
    suboptions:
      path:
        description: Where the inventory is written (its directory must exist).
        type: path
        required: true
      groups:
        description:
          - Inventory groups every node joins; the first one carries the nodes' connection variables.
        type: list
        elements: str
        default: [lab_nodes]
      first_node_groups:
        description: Inventory groups only the first node joins (those not already in O(inventory.groups)).
        type: list
        elements: str
        default: []
      python_interpreter:
        description: The nodes' C(ansible_python_interpreter).
        type: str
        default: /usr/bin/python3
      pod_cidr:
        description: The lab's pod pool, written as C(lab_pod_cidr).
        type: str
        required: true
      header:
        description: Text of the file's first comment line (the role passes C(ansible_managed), else C(Ansible managed)).
        type: str
        default: Ansible managed
  node_files:
    description:
      - With O(state=present), also lay down these directories and files in every node, in the node's own
        mount namespace (through C(/proc/<pid of the node's sshd>/root)), as the files a node has before
        Calico is installed (the lab's kubeadm-built node). A file is written once and never overwritten;
        a directory gets its mode.
      - In check mode they are only compared, and only when the lab itself would not change.
    type: dict
    version_added: 1.1.0
    suboptions:
      directories:
        description: Directories every node has (made with their parents when missing).
        type: list
        elements: dict
        default: []
        suboptions:
          path:
            description: Absolute path in the node.
            type: str
            required: true
          mode:
            description: Its mode, an octal string such as V('0755').
            type: str
      files:
        description: Files, written when missing.
        type: list
        elements: dict
        default: []
        suboptions:
          path:
            description: Absolute path in the node.
            type: str
            required: true
          content:
            description: The file's text.
            type: str
            required: true
          mode:
            description: Its mode, an octal string such as V('0644').
            type: str
          nodes:
            description: V(all) nodes, or only the V(first) (for example a control plane's static pod).
            type: str
            choices: [all, first]
            default: all
attributes:
  diff_mode:
    details:
      - The diff shows the lab's namespaces, the nodes whose sshd runs and the state dir, before and after,
        the inventory's text when it changes, and each node file written.
notes:
  - Needs C(ip) (iproute2), C(unshare), C(ssh-keygen), C(sshd) and C(nc) (netcat-openbsd) on the machine.
seealso:
  - name: The podnet.calico.lab role
    description: Brings the lab up with this module and writes its inventory (docs/lab.md).
    link: https://github.com/podnet/calico/blob/main/docs/lab.md
author:
  - podnet.calico contributors (@podnet)
'''

EXAMPLES = r'''
- name: Bring a three-node lab up
  podnet.calico.lab:
    state_dir: /tmp/podnet-lab
    nodes: 3
    reserved_ranges:
      - name: lab_pod_cidr
        cidr: 10.244.0.0/16
  register: lab_up

- name: Take it down
  podnet.calico.lab:
    state: absent
    state_dir: /tmp/podnet-lab
'''

RETURN = r'''
lab_changed:
  description: Whether the lab itself changed (or would change), not counting the inventory file.
  returned: always
  type: bool
  sample: false
  version_added: 1.1.0
node_files:
  description: The nodes' files and directories that were (or would be) made, or had their mode set, as C(<node>:<path>).
  returned: when O(node_files) is given, O(state=present), and they were compared
  type: list
  elements: str
  sample: ["node1:/etc/containerd/config.toml"]
  version_added: 1.1.0
inventory:
  description: The inventory file and whether it was (or would be) written or its mode set.
  returned: when O(inventory) is given, O(state=present), and it was compared
  type: dict
  sample: {"path": "/tmp/podnet-lab/inventory.yml", "changed": false}
  version_added: 1.1.0
changes:
  description: What was done (or would be done in check mode), one line each.
  returned: always
  type: list
  elements: str
  sample: ["create namespace pn-sink", "start sshd of node1"]
lab:
  description:
    - The lab's state as kept in C(lab.json) (with O(state=present)); in check mode, what it would be.
  returned: when O(state=present)
  type: dict
  sample:
    prefix: pn
    state_dir: /tmp/podnet-lab
    underlay_cidr: 10.89.0.0/24
    gateway: 10.89.0.1
    ctl_netns: pn-ctl
    ctl_ip: 10.89.0.2
    sink_netns: pn-sink
    ssh_key: /tmp/podnet-lab/id_ed25519
    known_hosts: /tmp/podnet-lab/known_hosts
    proxy_command: ip netns exec pn-ctl nc %h %p
    nodes:
      - name: node1
        netns: pn-node1
        underlay_ip: 10.89.0.11
        ssh_address: 10.89.0.11
        ssh_port: 22
        sshd_pid: 4242
        containerd_pid: 4343
        containerd_socket: /proc/4242/root/run/containerd/containerd.sock
    etcd:
      endpoint: https://10.89.0.2:2379
      controller_endpoint: https://127.0.0.1:41234
removed:
  description: The namespaces removed and the processes stopped (with O(state=absent)).
  returned: when O(state=absent)
  type: dict
  sample: {"removed": ["pn-ctl", "pn-node1", "pn-sink"], "processes": [4242]}
msg:
  description: One line for people.
  returned: always
  type: str
  sample: "lab pn is up with these settings: no change"
'''

import os
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.podnet.calico.plugins.module_utils.lab._namespaces import Lab, LabError, set_runner
from ansible_collections.podnet.calico.plugins.module_utils.lab._runtime import ensure_services
from ansible_collections.podnet.calico.plugins.module_utils.cluster._files import (
    FilesError, apply as apply_files, diffs as file_diffs, plan as plan_files)


# The lab's inventory file (O(inventory)): the text the role's former template
# (roles/lab/templates/inventory.yml.j2) wrote, now written in the task that brings the lab up.
# Kept here and not in module_utils/lab, which the CNI plugin's archive bundles.
INVENTORY_MODE = 0o600


def render_inventory(lab, settings, groups, first_node_groups, python_interpreter, header='Ansible managed'):
    """The inventory of the lab ``lab`` (its state, as kept in lab.json) as YAML text.

    ``settings``: the lab's prefix, state_dir, underlay_cidr and pod_cidr as the play gave them.
    Every node joins ``groups`` (the first of them carries the nodes' connection variables); the
    first node also joins each of ``first_node_groups`` that is not in ``groups``.
    """
    nodes = lab['nodes']
    lines = [
        '---',
        '# %s' % header,
        '# Inventory of the podnet.calico lab "%s" (state in %s).' % (settings['prefix'], settings['state_dir']),
        'all:',
        '  vars:',
        '    ansible_user: root',
        '    ansible_ssh_private_key_file: %s' % lab['ssh_key'],
        '    ansible_ssh_common_args: >-',
        '      -o ProxyCommand="%s"' % lab['proxy_command'],
        '      -o UserKnownHostsFile=%s' % lab['known_hosts'],
        '      -o StrictHostKeyChecking=accept-new',
        '    ansible_control_path_dir: %s/cp' % settings['state_dir'],
        '    ansible_pipelining: true',
        '    lab_state_dir: %s' % settings['state_dir'],
        '    lab_prefix: %s' % settings['prefix'],
        '    lab_pod_cidr: %s' % settings['pod_cidr'],
        '    lab_underlay_cidr: %s' % settings['underlay_cidr'],
        '    lab_ctl_ip: %s' % lab['ctl_ip'],
        '  children:',
    ]
    for group in groups:
        lines += ['    %s:' % group, '      hosts:']
        for node in nodes:
            lines.append('        %s:' % node['name'])
            if group == groups[0]:
                lines += [
                    '          ansible_host: %s' % node['ssh_address'],
                    '          ansible_port: %s' % node['ssh_port'],
                    '          ansible_python_interpreter: %s' % python_interpreter,
                    '          lab_netns: %s' % node['netns'],
                    '          lab_underlay_ip: %s' % node['underlay_ip'],
                ]
    for group in first_node_groups:
        if group not in groups:
            lines += ['    %s:' % group, '      hosts:', '        %s:' % nodes[0]['name']]
    return '\n'.join(lines) + '\n'


def ensure_inventory(path, content, check):
    """Make ``path`` hold ``content`` with mode 0600; return (changes, text before or None).

    Nothing is written in check mode; the changes say what would be done.
    """
    try:
        with open(path) as handle:
            before = handle.read()
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except (OSError, UnicodeDecodeError):
        before, mode = None, None
    changes = []
    if before != content:
        changes.append('write inventory %s' % path)
        if not check:
            tmp = path + '.tmp'
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, INVENTORY_MODE)
            with os.fdopen(fd, 'w') as handle:
                handle.write(content)
            os.chmod(tmp, INVENTORY_MODE)
            os.rename(tmp, path)
    elif mode != INVENTORY_MODE:
        changes.append('set mode 0600 of inventory %s' % path)
        if not check:
            os.chmod(path, INVENTORY_MODE)
    return changes, before


def node_file_actions(roots, spec):
    """plan() of the node files ``spec`` (O(node_files)) for each node.

    ``roots``: [(node name, the node's root seen from here)] in node order (the first is the first
    node). Returns [(node name, root, actions)]; a file is never overwritten (written once).
    """
    for entry in (spec.get('directories') or []) + (spec.get('files') or []):
        if not str(entry.get('path', '')).startswith('/'):
            raise FilesError('node_files: path must be an absolute path, got %r' % (entry.get('path'),))
    out = []
    for index, (name, root) in enumerate(roots):
        directories = [{'path': root + entry['path'], 'mode': entry.get('mode')}
                       for entry in spec.get('directories') or []]
        files = [{'path': root + entry['path'], 'content': entry['content'], 'mode': entry.get('mode'), 'force': False}
                 for entry in spec.get('files') or [] if entry.get('nodes', 'all') == 'all' or index == 0]
        out.append((name, root, plan_files(directories, files)))
    return out


def ensure_node_files(lab, spec, check, changes):
    """Lay down O(node_files) in every node of ``lab`` (its state); return (diffs, changed paths).

    ``changes`` (a list) gets one line per change made (or, in check mode, that would be made); a node
    whose files fail is undone (the engine's apply), the nodes before it keep theirs (in ``changes``).
    """
    roots = []
    for node in lab['nodes']:
        if not node.get('sshd_pid'):
            raise FilesError('node_files: node %s has no running sshd, whose mount namespace holds its files'
                             % node['name'])
        roots.append((node['name'], '/proc/%d/root' % node['sshd_pid']))
    diff, paths = [], []
    for name, root, actions in node_file_actions(roots, spec):
        if actions and not check:
            apply_files(actions)
        for action in actions:
            path = action['path'][len(root):]
            paths.append('%s:%s' % (name, path))
            changes.append('%s %s in node %s' % ('make' if action['kind'] == 'mkdir' else
                                                 'set mode of' if action['kind'] == 'chmod' else 'write', path, name))
        for entry in file_diffs(actions):
            diff.append(dict(entry, before_header='%s:%s' % (name, entry['before_header'][len(root):]),
                             after_header='%s:%s' % (name, entry['after_header'][len(root):])))
    return diff, paths


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            prefix=dict(type='str', default='pn'),
            state_dir=dict(type='path', required=True),
            nodes=dict(type='int', default=3),
            node_name=dict(type='str', default='node'),
            underlay_cidr=dict(type='str', default='10.89.0.0/24'),
            reserved_ranges=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                cidr=dict(type='str', required=True),
            )),
            ssh_port=dict(type='int', default=22),
            containerd=dict(type='bool', default=False),
            pause_image=dict(type='str', default='localhost/podnet-pause:1'),
            etcd_server=dict(type='dict', options=dict(
                cert_file=dict(type='path', required=True),
                key_file=dict(type='path', required=True),
                ca_file=dict(type='path', required=True),
            )),
            inventory=dict(type='dict', options=dict(
                path=dict(type='path', required=True),
                groups=dict(type='list', elements='str', default=['lab_nodes']),
                first_node_groups=dict(type='list', elements='str', default=[]),
                python_interpreter=dict(type='str', default='/usr/bin/python3'),
                pod_cidr=dict(type='str', required=True),
                header=dict(type='str', default='Ansible managed'),
            )),
            node_files=dict(type='dict', options=dict(
                directories=dict(type='list', elements='dict', default=[], options=dict(
                    path=dict(type='str', required=True),
                    mode=dict(type='str'),
                )),
                files=dict(type='list', elements='dict', default=[], options=dict(
                    path=dict(type='str', required=True),
                    content=dict(type='str', required=True),
                    mode=dict(type='str'),
                    nodes=dict(type='str', choices=['all', 'first'], default='all'),
                )),
            )),
        ),
        supports_check_mode=True,
    )
    params = module.params
    check = module.check_mode
    if os.geteuid() != 0:
        module.fail_json(msg='the lab needs root (network and mount namespaces)')
    set_runner(lambda argv: module.run_command(argv, expand_user_and_vars=False))
    lab = None
    inventory_changes = []
    inventory_diff = None
    file_changes, file_diff = [], []
    try:
        lab = Lab(dict((key, params[key]) for key in
                       ('prefix', 'state_dir', 'nodes', 'node_name', 'underlay_cidr', 'reserved_ranges', 'ssh_port')))
        before = lab.summary()
        result = {}
        if params['state'] == 'present':
            result['lab'] = lab.up(check)
            if params['containerd'] or params['etcd_server']:
                result['lab'] = ensure_services(lab, result['lab'], check, containerd=params['containerd'],
                                                etcd_server=params['etcd_server'], pause_image=params['pause_image'])
            after = lab.summary_when_up() if check else lab.summary()
            inv = params['inventory']
            # In check mode a lab that would change has no state to render yet: not compared then.
            if inv and not (check and lab.changes):
                content = render_inventory(
                    result['lab'], dict(prefix=params['prefix'], state_dir=params['state_dir'],
                                        underlay_cidr=params['underlay_cidr'], pod_cidr=inv['pod_cidr']),
                    inv['groups'], inv['first_node_groups'], inv['python_interpreter'], inv['header'])
                inventory_changes, inventory_before = ensure_inventory(inv['path'], content, check)
                result['inventory'] = {'path': inv['path'], 'changed': bool(inventory_changes)}
                if inventory_before != content:
                    inventory_diff = {'before_header': inv['path'], 'after_header': inv['path'],
                                      'before': inventory_before or '', 'after': content}
            if params['node_files'] and not (check and lab.changes):
                file_diff, result['node_files'] = ensure_node_files(result['lab'], params['node_files'], check,
                                                                    file_changes)
            done = lab.changes + inventory_changes + file_changes
            result['msg'] = ('lab %s: %s' % (lab.prefix, '; '.join(done)) if done
                             else 'lab %s is up with these settings: no change' % lab.prefix)
        else:
            result['removed'] = lab.down(check)
            after = {'namespaces': [], 'sshd_running': [], 'state_dir': None} if check else lab.summary()
            result['msg'] = ('lab %s removed' % lab.prefix) if lab.changes else 'lab %s: nothing to remove' % lab.prefix
    except (LabError, FilesError) as exc:
        module.fail_json(msg=str(exc), changes=(lab.changes if lab else []) + inventory_changes + file_changes)
    except (OSError, ValueError) as exc:
        module.fail_json(msg='lab: %s' % exc, changes=(lab.changes if lab else []) + inventory_changes + file_changes)
    result['changes'] = lab.changes + inventory_changes + file_changes
    result['lab_changed'] = bool(lab.changes)
    result['changed'] = bool(result['changes'])
    if module._diff:
        result['diff'] = {'before': before, 'after': after}
        if inventory_diff or file_diff:
            result['diff'] = [result['diff']] + ([inventory_diff] if inventory_diff else []) + file_diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
