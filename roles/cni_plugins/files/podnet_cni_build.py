# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build podnet.calico's CNI plugin as one executable Python zip application.

The archive holds the collection's plugins/module_utils (the same code as the modules) under
ansible_collections/podnet/calico/, plus a __main__ that calls the plugin's entry point. It runs with
the interpreter of its first line (the node's Python 3.9+ with pyroute2 0.7 or 0.9;
etcd is reached with the standard library). Installed as ``calico``, with ``calico-ipam`` a link to it: the name it is run
by picks the role. With --pyc the running interpreter also compiles every module into the archive
(then the target interpreter must be the same Python version, or the compiled files are ignored).

The output is reproducible: fixed timestamps and sorted entries, so an unchanged source gives a
byte-identical file and an idempotent install.
"""

import argparse
import hashlib
import importlib.util
import io
import marshal
import os
import stat
import sys
import zipfile

#: The executable's entry point. Every call compiles it, so it stays small: it runs the client from the
#: node's bytecode copy (written by the client itself on a call that found none: zipimport never caches
#: compiled code, and compiling the client costs a call about as much as the interpreter's start), else
#: from the archive. The copy is named by the client's source hash and the interpreter's cache tag, and
#: is used only when root owns it and its directory and neither is writable by anyone else.
MAIN = '''# podnet.calico CNI plugin (calico, calico-ipam): see docs/cni.md, "The resident helper"
import sys
NAME = 'ansible_collections.podnet.calico.plugins.module_utils.cni._client'
CACHE = '/run/podnet-cni/bytecode/client-%s.%s' % ('{client_hash}', sys.implementation.cache_tag)


def cached():
    import marshal
    import os
    try:
        with open(CACHE, 'rb') as handle:
            for st in (os.fstat(handle.fileno()), os.stat(os.path.dirname(CACHE))):
                if st.st_uid != 0 or st.st_mode & 0o022:
                    return None
            code = marshal.loads(handle.read())
        module = type(sys)(NAME)
        module.__loader__ = __loader__
        module.__file__ = code.co_filename
        sys.modules[NAME] = module
        exec(code, module.__dict__)
        module.BYTECODE = 'cache'
        return module
    except Exception:
        sys.modules.pop(NAME, None)
        return None


client = cached() if sys.implementation.cache_tag else None
if client is None:
    __import__(NAME)
    client = sys.modules[NAME]
    client.save_bytecode(CACHE)
sys.exit(client.main())
'''
#: Interpreter flags of the first line: no site import and an environment-proof start for the small client
#: (the helper and the in-process fallback load site-packages themselves).
FLAGS = '-IS'
PACKAGES = ('ansible_collections', 'ansible_collections/podnet', 'ansible_collections/podnet/calico',
            'ansible_collections/podnet/calico/plugins')
STAMP = (2020, 1, 1, 0, 0, 0)


def _entry(archive, name, data, mode=0o644):
    info = zipfile.ZipInfo(name, date_time=STAMP)
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def _pyc(source, name):
    code = compile(source, name, 'exec', dont_inherit=True, optimize=0)
    # unchecked hash-based pyc (PEP 552): valid whatever the archive's timestamps say
    return importlib.util.MAGIC_NUMBER + (1).to_bytes(4, 'little') + b'\0' * 8 + marshal.dumps(code)


def build(collection_root, output, interpreter, pyc=False):
    module_utils = os.path.join(collection_root, 'plugins', 'module_utils')
    if not os.path.isfile(os.path.join(module_utils, 'cni', '_main.py')):
        raise SystemExit('%s does not look like the podnet.calico collection (no plugins/module_utils/cni/_main.py)'
                         % collection_root)
    files = []
    for directory, subdirs, names in os.walk(module_utils):
        subdirs[:] = sorted(d for d in subdirs if d != '__pycache__')
        for name in sorted(names):
            if name.endswith('.py'):
                path = os.path.join(directory, name)
                files.append((os.path.relpath(path, collection_root), path))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as archive:
        with open(os.path.join(collection_root, 'plugins', 'module_utils', 'cni', '_client.py'), 'rb') as handle:
            client_hash = hashlib.sha256(handle.read()).hexdigest()[:16]
        _entry(archive, '__main__.py', MAIN.replace('{client_hash}', client_hash))
        present = set(rel for rel, _path in files)
        packages = list(PACKAGES)
        for rel, _path in files:
            parent = os.path.dirname(rel)
            while parent.startswith('plugins/module_utils'):
                packages.append('ansible_collections/podnet/calico/' + parent)
                parent = os.path.dirname(parent)
        for package in sorted(set(packages)):
            init = package + '/__init__.py'
            if init[len('ansible_collections/podnet/calico/'):] not in present:
                _entry(archive, init, '')
                if pyc:
                    _entry(archive, init + 'c', _pyc('', init))
        for rel, path in sorted(files):
            with open(path, 'rb') as handle:
                source = handle.read()
            name = 'ansible_collections/podnet/calico/' + rel
            _entry(archive, name, source)
            if pyc:
                _entry(archive, name + 'c', _pyc(source, name))
    first = interpreter
    if os.path.isabs(interpreter) and ' ' not in interpreter and os.path.basename(interpreter) != 'env':
        first += ' ' + FLAGS
    data = b'#!' + first.encode() + b'\n' + buf.getvalue()
    tmp = output + '.tmp%d' % os.getpid()
    with open(tmp, 'wb') as handle:
        handle.write(data)
    os.chmod(tmp, 0o755)
    os.rename(tmp, output)
    return output


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--collection', required=True, help='root of the podnet.calico collection')
    parser.add_argument('--output', required=True, help='file to write (mode 0755)')
    parser.add_argument('--python', default='/usr/bin/python3', help='interpreter of the node (first line)')
    parser.add_argument('--pyc', action='store_true', help='also compile with this interpreter (same version only)')
    args = parser.parse_args(argv)
    build(args.collection, args.output, args.python, args.pyc)
    print(args.output)
    return 0


if __name__ == '__main__':
    sys.exit(main())
