# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Careful text editors for the files that point a cluster at CNI (private to the collection).

Plain Python, no Ansible import: errors are KubeletCniError with a message for the user. They run
on the node in the module kubelet_cni_config (_kubelet_cni_config.py) and on the controller in the
kubelet_cni filters (their Jinja faces); they take a file's text and return the edited text:
everything they do not own is kept byte for byte, and an input that already has the wanted settings
comes back unchanged, so that a file is written only when something really moved.

TOML is checked with tomllib (Python 3.11+) or tomli, the static pod is parsed with PyYAML; both are
optional imports here, their absence is reported by the caller (TOML_IMPORT_ERROR, YAML_IMPORT_ERROR).
"""

from __future__ import annotations

import re
import traceback

try:
    import tomllib
    TOML_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - Python < 3.11 on a node
    try:
        import tomli as tomllib
        TOML_IMPORT_ERROR = None
    except ImportError:
        tomllib = None
        TOML_IMPORT_ERROR = traceback.format_exc()

try:
    import yaml
    YAML_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core on the controller
    yaml = None
    YAML_IMPORT_ERROR = traceback.format_exc()


class KubeletCniError(ValueError):
    """A file that cannot be edited safely, or bad input; the message names what and why."""


# --------------------------------------------------------------------------------------------
# command-line flags in systemd units and environment files

_EXEC_RE = re.compile(r'^(\s*ExecStart\s*=\s*)(.*)$')
_ENVIRONMENT_RE = re.compile(r'^(\s*Environment\s*=\s*)("?)([A-Za-z_][A-Za-z0-9_]*)=(.*?)("?)\s*$')
_ENV_RE = re.compile(r'^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)=(.*)$')


def _flag_name(token):
    return token.split('=', 1)[0]


def _edit_token_lines(lines, set_flags, remove, bool_flags):
    """Edit flags in a span given as a list of token lists (one per physical line).

    Returns the new list of token lists, or None when nothing changed.
    """
    flat = [(index, token) for index, tokens in enumerate(lines) for token in tokens]
    kept = []
    seen = set()
    position = 0
    while position < len(flat):
        index, token = flat[position]
        name = _flag_name(token)
        if name.startswith('--') and (name in set_flags or name in remove):
            step = 1
            if ('=' not in token and name not in bool_flags and position + 1 < len(flat)
                    and not flat[position + 1][1].startswith('-')):
                step = 2
            if name in set_flags and name not in seen:
                seen.add(name)
                kept.append((index, '%s=%s' % (name, set_flags[name])))
            position += step
            continue
        kept.append((index, token))
        position += 1
    missing = ['%s=%s' % (name, value) for name, value in set_flags.items() if name not in seen]
    if kept == flat and not missing:
        return None
    result = [[] for dummy in lines]
    for index, token in kept:
        result[index].append(token)
    if missing:
        if len(lines) == 1:
            result[0].extend(missing)
        else:
            result.extend([token] for token in missing)
    return result


def _logical_spans(lines):
    """Yield (first, last) physical line indexes of logical lines joined by a trailing backslash."""
    index = 0
    while index < len(lines):
        first = index
        while lines[index].rstrip().endswith('\\') and index + 1 < len(lines):
            index += 1
        yield first, index
        index += 1


def _edit_exec(lines, first, last, set_flags, remove, bool_flags):
    """Edit one ExecStart= logical line; return replacement physical lines or None."""
    match = _EXEC_RE.match(lines[first])
    prefix = match.group(1)
    bodies = [match.group(2)] + lines[first + 1:last + 1]
    token_lines = [body.rstrip().rstrip('\\').split() for body in bodies]
    edited = _edit_token_lines(token_lines, set_flags, remove, bool_flags)
    if edited is None:
        return None
    indent = '    '
    if last > first:
        indent = re.match(r'^(\s*)', lines[first + 1]).group(1) or indent
    physical = [prefix + ' '.join(edited[0])]
    physical.extend(indent + ' '.join(tokens) for tokens in edited[1:] if tokens)
    return [line + ' \\' for line in physical[:-1]] + physical[-1:]


def _is_binary(tokens, binary):
    if not tokens:
        return False
    path = tokens[0].lstrip('-@+!:')
    return path.rsplit('/', 1)[-1] == binary


def _edit_unit(content_lines, set_flags, remove, bool_flags, binary):
    spans = []
    for first, last in _logical_spans(content_lines):
        match = _EXEC_RE.match(content_lines[first])
        if match and _is_binary(match.group(2).split(), binary):
            spans.append((first, last))
    replacements = {}
    for position, (first, last) in enumerate(spans):
        wanted = set_flags if position == len(spans) - 1 else {}
        new = _edit_exec(content_lines, first, last, wanted, remove | set(set_flags), bool_flags)
        if new is not None:
            replacements[first] = (last, new)
    # Environment="NAME=--flags ..." lines (old kubeadm drop-ins): managed flags are removed there.
    for index, line in enumerate(content_lines):
        match = _ENVIRONMENT_RE.match(line)
        if not match or match.group(2) != match.group(5):
            continue
        value = match.group(4)
        if '"' in value:
            continue
        edited = _edit_token_lines([value.split()], {}, remove | set(set_flags), bool_flags)
        if edited is not None:
            quote = match.group(2)
            new_line = '%s%s%s=%s%s' % (match.group(1), quote, match.group(3), ' '.join(edited[0]), quote)
            replacements[index] = (index, [new_line])
    return spans, replacements


def _unquote_env(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
        return value[0], value[1:-1]
    if ' ' in value:
        raise KubeletCniError('cannot parse unquoted value with spaces: %r' % value)
    return '', value


def _edit_env(content_lines, set_flags, remove, bool_flags, env_vars, new_env_var):
    replacements = {}
    found = []
    for index, line in enumerate(content_lines):
        match = _ENV_RE.match(line)
        if match and match.group(2) in env_vars:
            if line.rstrip().endswith('\\'):
                raise KubeletCniError('variable %s continues over several lines, which is not supported'
                                      % match.group(2))
            found.append((env_vars.index(match.group(2)), index, match))
    target = min(found)[1] if found else None
    for dummy, index, match in found:
        quote, value = _unquote_env(match.group(3))
        wanted = set_flags if index == target else {}
        edited = _edit_token_lines([value.split()], wanted, remove | set(set_flags), bool_flags)
        if edited is not None:
            quote = quote or '"'
            new_line = '%s%s=%s%s%s' % (match.group(1), match.group(2), quote, ' '.join(edited[0]), quote)
            replacements[index] = (index, [new_line])
    appended = []
    if target is None and set_flags:
        appended.append('%s="%s"' % (new_env_var, ' '.join('%s=%s' % item for item in set_flags.items())))
    return replacements, appended


def kubelet_cni_flags(content, set_flags=None, remove=None, binary='kubelet', env_vars=None,
                      new_env_var='KUBELET_EXTRA_ARGS', bool_flags=None):
    """Set and remove command-line flags in a systemd unit (or drop-in) or an environment file."""
    if not isinstance(content, str):
        raise KubeletCniError('kubelet_cni_flags expects the file text as a string, got %s'
                              % type(content).__name__)
    set_flags = dict(set_flags or {})
    for name in set_flags:
        if not str(name).startswith('--'):
            raise KubeletCniError('kubelet_cni_flags: flag names start with "--", got %r' % name)
    remove = set(remove or [])
    bool_flags = set(bool_flags or ['--allocate-node-cidrs'])
    env_vars = list(env_vars or ['KUBELET_KUBEADM_ARGS', 'KUBELET_EXTRA_ARGS', 'KUBELET_ARGS', 'KUBELET_OPTS'])
    lines = content.splitlines()
    trailing_newline = content.endswith('\n') or not content
    appended = []
    if any(_EXEC_RE.match(line) for line in lines):
        spans, replacements = _edit_unit(lines, set_flags, remove, bool_flags, binary)
        if set_flags and not spans:
            raise KubeletCniError('kubelet_cni_flags: no ExecStart= line runs %s in this unit' % binary)
    else:
        replacements, appended = _edit_env(lines, set_flags, remove, bool_flags, env_vars, new_env_var)
    if not replacements and not appended:
        return content
    out = []
    index = 0
    while index < len(lines):
        if index in replacements:
            last, new = replacements[index]
            out.extend(new)
            index = last + 1
        else:
            out.append(lines[index])
            index += 1
    out.extend(appended)
    return '\n'.join(out) + ('\n' if trailing_newline else '')


# --------------------------------------------------------------------------------------------
# containerd config.toml

_CNI_TABLES = {
    1: ['plugins', 'cri', 'cni'],
    2: ['plugins', 'io.containerd.grpc.v1.cri', 'cni'],
    3: ['plugins', 'io.containerd.cri.v1.runtime', 'cni'],
}
_HEADER_RE = re.compile(r'^\s*(\[\[?)\s*(.*?)\s*(\]\]?)\s*(#.*)?$')
_VERSION_RE = re.compile(r'^\s*version\s*=\s*(\d+)\s*(#.*)?$')
_STRING_KEY_RE = re.compile(r'''^(\s*)(bin_dir|conf_dir)(\s*=\s*)("(?:[^"\\]|\\.)*"|'[^']*')(.*)$''')
_LIST_KEY_RE = re.compile(r'''^(\s*)(bin_dirs)(\s*=\s*)(\[[^\]]*\])(.*)$''')
_ANY_KEY_RE = re.compile(r'''^\s*(bin_dirs|bin_dir|conf_dir)\s*=''')


def _split_key(text):
    """Split a TOML dotted key into its parts, honouring quotes."""
    parts = []
    current = ''
    quote = None
    for char in text:
        if quote:
            if char == quote:
                quote = None
            else:
                current += char
        elif char in '"\'':
            quote = char
        elif char == '.':
            parts.append(current.strip())
            current = ''
        else:
            current += char
    parts.append(current.strip())
    return parts


def _toml_string(value, like):
    if like.startswith("'") and "'" not in value:
        return "'%s'" % value
    return '"%s"' % value.replace('\\', '\\\\').replace('"', '\\"')


def _containerd_lookup(data, path):
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def kubelet_cni_containerd(content, bin_dir='/opt/cni/bin', conf_dir='/etc/cni/net.d'):
    """Point containerd's CRI plugin at the CNI directories (config versions 1, 2 and 3)."""
    if not isinstance(content, str):
        raise KubeletCniError('kubelet_cni_containerd expects the file text as a string')
    if tomllib is not None and content.strip():
        try:
            tomllib.loads(content)
        except tomllib.TOMLDecodeError as exc:
            raise KubeletCniError('the containerd config is not valid TOML (%s); refusing to edit it' % exc)
    lines = content.splitlines()
    trailing_newline = content.endswith('\n') or not content
    version = None
    headers = []
    in_multiline = False
    for index, line in enumerate(lines):
        if line.count('"""') % 2 or line.count("'''") % 2:
            in_multiline = not in_multiline
            continue
        if in_multiline:
            continue
        match = _HEADER_RE.match(line)
        if match and not line.lstrip().startswith('#'):
            headers.append((index, _split_key(match.group(2)), match.group(1) == '[['))
            continue
        if not headers:
            version_match = _VERSION_RE.match(line)
            if version_match:
                version = int(version_match.group(1))
    if not content.strip():
        version = 2
        lines = ['version = 2']
    elif version is None:
        version = 1
    if version not in _CNI_TABLES:
        raise KubeletCniError('containerd config version %s is not supported (1, 2 or 3)' % version)
    table = _CNI_TABLES[version]
    wanted = {'bin_dir': bin_dir, 'conf_dir': conf_dir}
    section = None
    for position, (index, key, is_array) in enumerate(headers):
        if key == table and not is_array:
            end = headers[position + 1][0] if position + 1 < len(headers) else len(lines)
            section = (index, end)
        if key == table[:-1] and not is_array:
            end = headers[position + 1][0] if position + 1 < len(headers) else len(lines)
            for line in lines[index + 1:end]:
                if re.match(r'''^\s*["']?cni["']?\s*[.=]''', line):
                    raise KubeletCniError('containerd config sets "cni" inline in [%s]; '
                                          'move it to its own table first' % '.'.join(table[:-1]))
    new_lines = list(lines)
    if section is None:
        header = 'plugins.%s.cni' % _toml_string(table[1], "'" if version == 3 else '"') if version > 1 \
            else 'plugins.cri.cni'
        if new_lines and new_lines[-1].strip():
            new_lines.append('')
        new_lines.append('[%s]' % header)
        new_lines.append('  bin_dir = %s' % _toml_string(bin_dir, "'" if version == 3 else '"'))
        new_lines.append('  conf_dir = %s' % _toml_string(conf_dir, "'" if version == 3 else '"'))
    else:
        start, end = section
        present = set()
        indent = None
        last_key_line = start
        for index in range(start + 1, end):
            line = lines[index]
            if line.strip() and not line.lstrip().startswith('#'):
                last_key_line = index
            match = _STRING_KEY_RE.match(line)
            list_match = _LIST_KEY_RE.match(line)
            if match:
                key = match.group(2)
                present.add(key)
                indent = match.group(1) if indent is None else indent
                value = _toml_string(wanted[key], match.group(4))
                new_lines[index] = match.group(1) + key + match.group(3) + value + match.group(5)
            elif list_match:
                present.add('bin_dirs')
                indent = list_match.group(1) if indent is None else indent
                items = re.findall('"(?:[^"\\\\]|\\\\.)*"|\'[^\']*\'', list_match.group(4))
                like = items[0] if items else '"'
                new_lines[index] = (list_match.group(1) + 'bin_dirs' + list_match.group(3)
                                    + '[%s]' % _toml_string(bin_dir, like) + list_match.group(5))
            elif _ANY_KEY_RE.match(line):
                raise KubeletCniError('cannot edit this containerd setting safely: %r' % line.strip())
            else:
                key_match = re.match(r'^(\s*)[A-Za-z0-9_"\']', line)
                if key_match and indent is None and not line.lstrip().startswith('#'):
                    indent = key_match.group(1)
        if indent is None:
            indent = re.match(r'^(\s*)', lines[start]).group(1) + '  '
        like = "'" if version == 3 else '"'
        additions = []
        if 'bin_dir' not in present and 'bin_dirs' not in present:
            additions.append('%sbin_dir = %s' % (indent, _toml_string(bin_dir, like)))
        if 'conf_dir' not in present:
            additions.append('%sconf_dir = %s' % (indent, _toml_string(conf_dir, like)))
        new_lines[last_key_line + 1:last_key_line + 1] = additions
    result = '\n'.join(new_lines) + ('\n' if trailing_newline else '')
    if result == content:
        return content
    if tomllib is not None:
        try:
            parsed = tomllib.loads(result)
        except tomllib.TOMLDecodeError as exc:
            raise KubeletCniError('editing the containerd config would produce invalid TOML (%s)' % exc)
        cni = _containerd_lookup(parsed, table) or {}
        bin_ok = cni.get('bin_dir') == bin_dir or cni.get('bin_dirs') == [bin_dir]
        if not bin_ok or cni.get('conf_dir') != conf_dir:
            raise KubeletCniError('the edited containerd config does not carry the CNI directories '
                                  'under [%s]; edit it by hand' % '.'.join(table))
    return result


# --------------------------------------------------------------------------------------------
# static pod manifests (kubeadm's /etc/kubernetes/manifests/*.yaml)

def _mapping_get(node, key):
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None


def kubelet_cni_static_pod(content, container='kube-controller-manager', set_flags=None, remove=None):
    """Set and remove flags in the command/args of one container of a static pod manifest."""
    if yaml is None:
        raise KubeletCniError('kubelet_cni_static_pod needs PyYAML')
    if not isinstance(content, str):
        raise KubeletCniError('kubelet_cni_static_pod expects the file text as a string')
    set_flags = dict(set_flags or {})
    remove = set(remove or []) | set(set_flags)
    try:
        root = yaml.compose(content, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise KubeletCniError('the static pod manifest is not valid YAML: %s' % exc)
    containers = _mapping_get(_mapping_get(root, 'spec'), 'containers')
    target = None
    for item in getattr(containers, 'value', None) or []:
        name = _mapping_get(item, 'name')
        if isinstance(name, yaml.ScalarNode) and name.value == container:
            target = item
    if target is None:
        raise KubeletCniError('the static pod manifest has no container named %s' % container)
    lists = [node for node in (_mapping_get(target, 'command'), _mapping_get(target, 'args'))
             if isinstance(node, yaml.SequenceNode)]
    if not lists:
        raise KubeletCniError('container %s has no command or args list' % container)
    lines = content.splitlines()
    trailing_newline = content.endswith('\n')
    replace = {}
    drop = set()
    seen = set()
    last_item = None
    last_indent = None
    for sequence in lists:
        if sequence.flow_style:
            raise KubeletCniError('container %s lists its flags in flow style, which is not supported'
                                  % container)
        for item in sequence.value:
            if not isinstance(item, yaml.ScalarNode) or item.start_mark.line != item.end_mark.line:
                raise KubeletCniError('container %s has a flag spanning several lines' % container)
            line_no = item.start_mark.line
            dash = re.match(r'^(\s*-\s+)', lines[line_no])
            if not dash:
                raise KubeletCniError('unexpected layout of the flags of container %s' % container)
            last_item = line_no
            last_indent = dash.group(1)
            name = _flag_name(item.value)
            if name not in remove:
                continue
            if name in set_flags and name not in seen:
                seen.add(name)
                wanted = '%s=%s' % (name, set_flags[name])
                if item.value != wanted:
                    replace[line_no] = last_indent + wanted
            else:
                drop.add(line_no)
    additions = ['%s%s=%s' % (last_indent, name, value) for name, value in set_flags.items()
                 if name not in seen]
    if not replace and not drop and not additions:
        return content
    out = []
    for index, line in enumerate(lines):
        if index in drop:
            pass
        else:
            out.append(replace.get(index, line))
        if index == last_item:
            out.extend(additions)
    return '\n'.join(out) + ('\n' if trailing_newline else '')
