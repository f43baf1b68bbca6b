# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the module kubelet_cni_config changes on a node, in one pass (private to the collection).

Plain Python, no Ansible import. plan_config() reads a service's flag files (and containerd's config
or the static pod manifest), edits them with the editors of _kubelet_cni.py (the same functions as the
kubelet_cni filters) and returns _files.plan()'s actions for what differs (compared with the texts
already read: each file is read once), with the services whose configuration they touch. Nothing is written here: the module hands the actions to _files.apply()
outside check mode.
"""

from __future__ import annotations

import json
import os
import re

from ansible_collections.podnet.calico.plugins.module_utils.cluster import _files
from ansible_collections.podnet.calico.plugins.module_utils.cluster import _kubelet_cni as editors

KUBELET = 'kubelet'
CONTAINERD = 'containerd'
CONTROLLER_MANAGER = 'kube-controller-manager'
SERVICES = (KUBELET, CONTROLLER_MANAGER)

_VERSION_RE = re.compile(r'^v?[0-9]+\.[0-9]+(\.[0-9]+)?$')


class ConfigError(Exception):
    """Bad input, a missing file that is needed, or a file the editors refuse; the message says which."""


class MissingLibrary(ConfigError):
    """A Python library the node needs for this file is not installed."""

    def __init__(self, library, reason, error):
        super().__init__('%s is needed %s' % (library, reason))
        self.library = library
        self.reason = reason
        self.error = error


def uses_kubelet_flags(kube_version):
    """True before Kubernetes 1.24 (the kubelet's own flags select CNI), False from 1.24 on."""
    if not isinstance(kube_version, str) or not _VERSION_RE.match(kube_version):
        raise ConfigError('kube_version must be a Kubernetes version such as "1.30.2", got %s'
                          % json.dumps('nothing' if kube_version is None else str(kube_version)))
    major, minor = kube_version.lstrip('v').split('.')[:2]
    return (int(major), int(minor)) < (1, 24)


def _edit(function, path, content, **kwargs):
    try:
        return function(content, **kwargs)
    except editors.KubeletCniError as exc:
        raise ConfigError('%s: %s' % (path, exc)) from exc


def plan_config(service, files, set_flags=None, remove_flags=None, env_vars=None, kube_version=None,
                containerd_config=None, bin_dir='/opt/cni/bin', conf_dir='/etc/cni/net.d', static_pod=None):
    """Read, edit and plan one service's configuration on this node.

    service: kubelet (with kube_version: its flags before 1.24, containerd_config from 1.24 on) or
    kube-controller-manager (its flag files and the static pod manifest). The flags to set go into the
    first existing file of files; the flags to remove (and the ones set) leave every file.

    Returns {'actions': _files.plan() actions, 'restart': services whose files change,
    'flag_file': the file that gets the flags (or None), 'warnings': texts for the user}.
    """
    if service not in SERVICES:
        raise ConfigError('service must be one of %s, got %r' % (', '.join(SERVICES), service))
    set_flags = dict(set_flags or {})
    remove_flags = list(remove_flags or [])
    files = list(files or [])
    edit_containerd = False
    required = False
    warnings = []
    if service == KUBELET:
        legacy = uses_kubelet_flags(kube_version)
        required = legacy
        if not legacy:
            # From 1.24 on the kubelet refuses the CNI flags: they are only removed, containerd selects CNI.
            set_flags = {}
            edit_containerd = bool(containerd_config)
        if static_pod:
            raise ConfigError('static_pod is for the service %s, not %s' % (CONTROLLER_MANAGER, service))
    elif containerd_config:
        raise ConfigError('containerd_config is for the service %s, not %s' % (KUBELET, service))
    extra = []
    if edit_containerd:
        extra.append(containerd_config)
    if service == CONTROLLER_MANAGER and static_pod:
        extra.append(static_pod)
    for path in files + extra:
        if not path or not os.path.isabs(path):
            raise ConfigError('paths must be absolute, got %r' % (path,))
    try:
        read = _files.gather(files + [path for path in extra if path not in files])
    except _files.FilesError as exc:
        raise ConfigError(str(exc)) from exc
    existing = [path for path in files if read[path]['exists']]
    if required and not existing:
        raise ConfigError('None of the %s flag files exists on this node: %s. Name the file that holds its '
                          'flags in the list of flag files (files; kubelet_cni_kubelet_files in the role).'
                          % (service, ', '.join(files)))
    pod_exists = bool(static_pod) and read[static_pod]['exists'] if service == CONTROLLER_MANAGER else False
    if service == CONTROLLER_MANAGER and not pod_exists and not existing:
        raise ConfigError('Found neither %s nor any of %s on this node: nothing holds the flags of %s.'
                          % (static_pod or '(no static pod manifest given)', ', '.join(files), service))

    wanted_dirs = []
    wanted_files = []
    flag_paths = []
    for position, path in enumerate(existing):
        content = _edit(editors.kubelet_cni_flags, path, read[path]['content'],
                        set_flags=set_flags if position == 0 else {}, remove=remove_flags,
                        binary=service, env_vars=env_vars)
        wanted_files.append({'path': path, 'content': content})
        flag_paths.append(path)
    if edit_containerd:
        if editors.tomllib is None:
            # The edit is textual; parsing is a guard on its input and output. Without a TOML parser
            # (Python before 3.11 without tomli) the edit is made and the guard is reported missing.
            warnings.append("containerd's config %s was edited without a TOML check: this node's Python has "
                            "neither tomllib (3.11+) nor tomli; install tomli (python3-tomli) to have it "
                            "checked" % containerd_config)
        have = read[containerd_config]
        content = _edit(editors.kubelet_cni_containerd, containerd_config,
                        have['content'] if have['exists'] else '', bin_dir=bin_dir, conf_dir=conf_dir)
        wanted_dirs.append({'path': os.path.dirname(containerd_config)})
        wanted_files.append({'path': containerd_config, 'content': content,
                             'mode': None if have['exists'] else '0644'})
    if pod_exists:
        if editors.yaml is None:
            raise MissingLibrary('PyYAML', 'to edit the static pod manifest %s' % static_pod, editors.YAML_IMPORT_ERROR)
        # No backup file: the kubelet would run a copy in the manifest directory as a second pod.
        content = _edit(editors.kubelet_cni_static_pod, static_pod, read[static_pod]['content'],
                        container=CONTROLLER_MANAGER, set_flags=set_flags, remove=remove_flags)
        wanted_files.append({'path': static_pod, 'content': content})
    try:
        actions = _files.plan(wanted_dirs, wanted_files, read=read)
    except _files.FilesError as exc:
        raise ConfigError(str(exc)) from exc

    changed = set(action['path'] for action in actions)
    restart = []
    if changed & set(flag_paths):
        restart.append(service)
    if edit_containerd and changed & {containerd_config, os.path.dirname(containerd_config)}:
        restart.append(CONTAINERD)
    # The static pod needs no restart: the kubelet restarts the pod when its manifest changes.
    return {'actions': actions, 'restart': restart, 'flag_file': existing[0] if existing else None,
            'warnings': warnings}
