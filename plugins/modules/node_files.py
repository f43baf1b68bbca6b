#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: node_files
short_description: Check and write a set of files and directories on a node in one task
version_added: 0.2.0
description:
  - With O(state=present), makes the listed directories, writes the listed files, each from
    O(files[].content) or from another file on the node (O(files[].src)), and makes the listed
    symbolic links (O(links)), in one pass - one task
    and one connection for what would otherwise be a task (or a loop item) per file.
  - A file is written only when its content differs (or, with O(files[].force=false), only when it
    is missing), to a temporary file beside it that is renamed over the old one; modes are set when
    they differ. A failure undoes what the run changed, or says what it could not undo.
  - With O(state=gathered), changes nothing and returns the content and mode of each of O(paths)
    (missing files included, as C(exists=false)), so that one task reads every file a role edits.
  - With O(cni_check), the CNI plugins it names are asked for their CNI versions after the plugins are in
    place and before O(checked_files) are written and O(absent) removed, so that one task installs the plugins,
    checks them and writes the config that uses them, and a plugin that fails the check stops the task
    before that config is written (the plugins written by the task are put back).
  - The cluster roles use it for the files they write on the nodes (CNI config, TLS files,
    kubelet and containerd settings).
extends_documentation_fragment:
  - podnet.calico.attributes
  - podnet.calico.attributes.full
  - podnet.calico.attributes.posix
options:
  state:
    description:
      - V(present) makes the directories and writes the files; V(gathered) only reads O(paths).
    type: str
    choices: [present, gathered]
    default: present
  directories:
    description:
      - Directories to make (with their missing parents) or whose mode to set; handled before the files.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      mode:
        description: Octal mode such as V('0755'); left as it is when not given (V('0755') for a new directory).
        type: raw
  files:
    description:
      - Files to write. Each path at most once.
    type: list
    elements: dict
    default: []
    suboptions: &file_suboptions
      path:
        description: Absolute path of the file on the node; its directory must exist or be in O(directories).
        type: path
        required: true
      content:
        description: The file's text. One of O(files[].content), O(files[].secret_content) and O(files[].src) is required.
        type: str
      secret_content:
        description:
          - The file's text when it is a secret (a key, a token). It is a C(no_log) value, never shown
            in the diff, the result or the node's log, so a task that writes secrets beside other files
            needs no task-wide C(no_log); implies O(files[].secret).
        type: str
        version_added: 1.1.0
      src:
        description: A file on the node whose bytes are copied (for example a plugin binary from a package).
        type: path
      mode:
        description: Octal mode such as V('0600'); a new file gets V('0644') when not given, an existing one keeps its mode.
        type: raw
      force:
        description: V(false) writes the file only when it is missing (it is never overwritten, only its mode set).
        type: bool
        default: true
      secret:
        description:
          - The content is not shown in the diff (keys, tokens). Use C(no_log) on the task too, or give
            the content as O(files[].secret_content).
        type: bool
        default: false
      diff:
        description:
          - V(false) shows in the diff only the size and sha256 of the old and new content, not the
            content itself (large generated files such as a plugin executable).
        type: bool
        default: true
        version_added: 1.1.0
  links:
    description:
      - Symbolic links to make or point elsewhere, after the files (a link may point at a file of
        O(files)). A file in the way is replaced by the link (and put back if the run fails); a
        directory in the way is an error.
    type: list
    elements: dict
    default: []
    version_added: 1.1.0
    suboptions: &link_suboptions
      path:
        description: Absolute path of the link.
        type: path
        required: true
      target:
        description: What the link points at, written as given (a relative target is relative to the link's directory).
        type: str
        required: true
  install:
    description:
      - Files and links given together as one value, a dict with the keys C(files) and C(links) (each in
        the format of O(files) and O(links)), which is what the filter
        P(podnet.calico.cni_plugins_install_plan#filter) returns. They are written as if they led O(files)
        and O(links). The task names the plan once, so that it is computed once per host.
    type: dict
    version_added: 1.1.0
    suboptions:
      files:
        description: Files to write, as in O(files).
        type: list
        elements: dict
        default: []
        suboptions: *file_suboptions
      links:
        description: Links to make, as in O(links).
        type: list
        elements: dict
        default: []
        suboptions: *link_suboptions
  cni_check:
    description:
      - CNI plugins to ask for their CNI versions the CNI way (C(CNI_COMMAND=VERSION), a config on
        stdin, one process each, side by side) after O(directories), O(files) and O(links) are in
        place and before O(checked_files) and O(absent). A plugin that cannot run or answers wrongly
        fails the task before anything points a container runtime at it, and the run's changes are
        undone.
      - In check mode the plugins that are there now are asked (one that would be installed is not
        there yet and is left out) and O(cni_check.need) is not checked.
    type: dict
    version_added: 1.1.0
    suboptions:
      bin_dir:
        description: The directory of the plugins.
        type: path
        required: true
      plugins:
        description: The plugins to ask; one that is not in O(cni_check.bin_dir) is left out.
        type: list
        elements: str
        default: []
      cni_version:
        description: The CNI version that the plugins of O(cni_check.required) must support.
        type: str
        default: 0.3.1
      required:
        description: The plugins that must support O(cni_check.cni_version); every plugin asked when not given.
        type: list
        elements: str
      minimums:
        description: Per plugin, the lowest CNI version it must support at least (the plugin's name, then the version, such as V(0.2.0) for C(loopback)).
        type: dict
        default: {}
      need:
        description:
          - Plugins that must have answered, each with the reason given in the error when it did not
            (the plugin's name, then the reason).
        type: dict
        default: {}
  checked_files:
    description:
      - Files to write after O(cni_check) passed (the same suboptions as O(files)), for example the
        network config that points the runtime at the plugins. Without O(cni_check) they are written
        after O(files) and O(links).
    type: list
    elements: dict
    default: []
    version_added: 1.1.0
    suboptions:
      path:
        description: Absolute path of the file on the node; its directory must exist or be in O(directories).
        type: path
        required: true
      content:
        description: The file's text.
        type: str
      secret_content:
        description: The file's text when it is a secret, as O(files[].secret_content).
        type: str
      src:
        description: A file on the node whose bytes are copied.
        type: path
      mode:
        description: Octal mode such as V('0600'); a new file gets V('0644') when not given, an existing one keeps its mode.
        type: raw
      force:
        description: V(false) writes the file only when it is missing.
        type: bool
        default: true
      secret:
        description: The content is not shown in the diff.
        type: bool
        default: false
      diff:
        description: V(false) shows in the diff only the size and sha256 of the old and new content.
        type: bool
        default: true
  absent:
    description:
      - Files or symbolic links to remove, last (after O(checked_files)); a missing one is no change, a
        directory an error. A failure puts them back.
    type: list
    elements: path
    default: []
    version_added: 1.1.0
  paths:
    description:
      - Files to read with O(state=gathered).
    type: list
    elements: path
    default: []
attributes:
  diff_mode:
    details:
      - One diff per changed path; secret contents are replaced by a note.
seealso:
  - module: ansible.builtin.copy
    description: One file per task, with owners, backups and validation.
author:
  - podnet.calico contributors (@podnet)
'''

EXAMPLES = r'''
- name: Write the CNI config list, the CNI kubeconfig and the etcd TLS files
  podnet.calico.node_files:
    directories:
      - path: /etc/cni/net.d/calico-tls
        mode: "0700"
    files:
      - path: /etc/cni/net.d/10-calico.conflist
        content: "{{ cni_plugins_conflist | to_nice_json(indent=2) }}"
        mode: "0644"
      - path: /etc/cni/net.d/calico-kubeconfig
        secret_content: "{{ lookup('ansible.builtin.template', 'calico-kubeconfig.j2') }}"
        mode: "0600"
      - path: /etc/cni/net.d/calico-tls/etcd-key
        secret_content: "{{ lookup('ansible.builtin.file', 'pki/etcd-client.key') }}"
        mode: "0600"

- name: Copy the reference plugins from the package
  podnet.calico.node_files:
    files:
      - path: /opt/cni/bin/loopback
        src: /usr/lib/cni/loopback
        mode: "0755"

- name: Install a plugin written on the controller, and a second name for it
  podnet.calico.node_files:
    files:
      - path: /opt/cni/bin/calico
        content: "{{ lookup('podnet.calico.cni_executable') }}"
        mode: "0755"
        diff: false
    links:
      - path: /opt/cni/bin/calico-ipam
        target: calico

- name: Install a plugin, check it the CNI way, then write the config that uses it
  podnet.calico.node_files:
    files:
      - path: /opt/cni/bin/loopback
        src: /usr/lib/cni/loopback
        mode: "0755"
    cni_check:
      bin_dir: /opt/cni/bin
      plugins: [loopback]
      cni_version: 1.0.0
      need:
        loopback: the container runtime needs it
    checked_files:
      - path: /etc/cni/net.d/99-loopback.conf
        content: '{"cniVersion": "1.0.0", "name": "lo", "type": "loopback"}'
    absent:
      - /etc/cni/net.d/00-old.conf

- name: Read the files to edit
  podnet.calico.node_files:
    state: gathered
    paths:
      - /etc/default/kubelet
      - /etc/containerd/config.toml
  register: kubelet_files
'''

RETURN = r'''
changed_paths:
  description: The paths made, written or linked (or that would be, in check mode), in order.
  returned: with O(state=present)
  type: list
  elements: str
  sample: ["/etc/cni/net.d/calico-tls", "/etc/cni/net.d/calico-tls/etcd-ca"]
cni_versions:
  description: Each plugin's answer to C(CNI_COMMAND=VERSION) (its standard output), when O(cni_check) is given.
  returned: with O(cni_check)
  type: dict
  sample: {"loopback": "{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.1.0\",\"1.0.0\"]}"}
gathered:
  description: Per path of O(paths), C(exists), C(content) (text, or null) and C(mode) (for example V('0644'), or null).
  returned: with O(state=gathered)
  type: dict
  sample: {"/etc/default/kubelet": {"exists": true, "content": "KUBELET_EXTRA_ARGS=\n", "mode": "0644"}}
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.podnet.calico.plugins.module_utils.cluster._cni_versions import check
from ansible_collections.podnet.calico.plugins.module_utils.cluster._files import FilesError, apply, diffs, gather, plan, undo

FILE_OPTIONS = dict(
    path=dict(type='path', required=True),
    content=dict(type='str'),
    secret_content=dict(type='str', no_log=True),
    src=dict(type='path'),
    mode=dict(type='raw'),
    force=dict(type='bool', default=True),
    secret=dict(type='bool', default=False),
    diff=dict(type='bool', default=True),
)


LINK_OPTIONS = dict(
    path=dict(type='path', required=True),
    target=dict(type='str', required=True),
)


def files_spec():
    """The spec of a list of files (files, checked_files, install.files): one of content,
    secret_content and src each."""
    return dict(type='list', elements='dict', default=[], options=FILE_OPTIONS,
                mutually_exclusive=[['content', 'secret_content', 'src']],
                required_one_of=[['content', 'secret_content', 'src']])


def _files(entries):
    return [dict(entry, content=entry['secret_content'], secret=True) if entry['secret_content'] is not None
            else entry for entry in entries]


def _undone(first, what):
    failed = undo(first)
    return '%s (undone: %d change(s)%s)' % (what, len(first) - len(failed),
                                            ('; could not undo %s' % ', '.join(failed)) if failed else '')


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['present', 'gathered'], default='present'),
            directories=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='path', required=True),
                mode=dict(type='raw'),
            )),
            files=files_spec(),
            checked_files=files_spec(),
            cni_check=dict(type='dict', options=dict(
                bin_dir=dict(type='path', required=True),
                plugins=dict(type='list', elements='str', default=[]),
                cni_version=dict(type='str', default='0.3.1'),
                required=dict(type='list', elements='str'),
                minimums=dict(type='dict', default={}),
                need=dict(type='dict', default={}),
            )),
            absent=dict(type='list', elements='path', default=[]),
            links=dict(type='list', elements='dict', default=[], options=LINK_OPTIONS),
            install=dict(type='dict', options=dict(
                files=files_spec(),
                links=dict(type='list', elements='dict', default=[], options=LINK_OPTIONS),
            )),
            paths=dict(type='list', elements='path', default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        if params['state'] == 'gathered':
            module.exit_json(changed=False, gathered=gather(params['paths']))
        install = params['install'] or {'files': [], 'links': []}
        files, links = install['files'] + params['files'], install['links'] + params['links']
        first = plan(params['directories'], _files(files), links)
        second = plan([], _files(params['checked_files']), [], absent=params['absent'])
        late = set(entry['path'] for entry in params['checked_files']) | set(params['absent'])
        twice = sorted(late & set(entry['path'] for entry in files + links))
        if twice:
            raise FilesError('%s is listed in files or links and again in checked_files or absent' % twice[0])
    except (FilesError, OSError) as exc:
        module.fail_json(msg=str(exc) if isinstance(exc, FilesError) else 'node_files: %s' % exc)
    result = dict(changed_paths=[a['path'] for a in first + second])
    spec = params['cni_check']
    try:
        if first and not module.check_mode:
            apply(first)
    except FilesError as exc:
        module.fail_json(msg=str(exc))
    if spec is not None:
        try:
            answers, problems = check(spec['bin_dir'], spec['plugins'], spec['cni_version'], spec['minimums'],
                                      spec['required'], spec['need'], present=not module.check_mode)
        except ValueError as exc:
            problems, answers = [str(exc)], {}
        result['cni_versions'] = answers
        if problems:
            what = 'cni_check: %s' % '; '.join(problems)
            module.fail_json(msg=_undone(first, what) if first and not module.check_mode else what, **result)
    try:
        if second and not module.check_mode:
            apply(second)
    except FilesError as exc:
        module.fail_json(msg=_undone(first, str(exc)) if first else str(exc), **result)
    actions = first + second
    result['changed'] = bool(actions)
    if module._diff:
        result['diff'] = diffs(actions)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
