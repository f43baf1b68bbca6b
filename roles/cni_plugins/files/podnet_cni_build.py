# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build podnet.calico's CNI plugin as one executable Python file.

The file is a plain Python script: a small loader, then the collection's plugins/module_utils (the
same code as the modules) as ansible_collections/podnet/calico/... modules, carried in comment lines
at its end (a marshal'd dict of path -> source, zlib-compressed, base64). It runs with the interpreter
of its first line (the node's Python 3.9+ with pyroute2 0.7 or 0.9; etcd is reached with the standard
library). Installed as ``calico``, with ``calico-ipam`` a link to it: the name it is run by picks the
role. With --pyc the running interpreter also compiles every module into the file (then the target
interpreter must be the same Python version, or the compiled code is ignored).

Why not a zip application: Python runs a zip through runpy, whose imports (importlib.util, contextlib,
collections, functools, ...) cost every call about 10 ms before the first line of ours runs; a plain
script starts as fast as the bare interpreter, and its comment lines cost the compiler almost nothing.

The output is reproducible: sorted entries, marshal format 2 (no object references) and fixed zlib
settings, so an unchanged source gives a byte-identical file and an idempotent install. The loader
carries the file's build hash (HASH_PLACEHOLDER below), which names the node's helper for this build.
"""

import argparse
import base64
import hashlib
import importlib.util
import marshal
import os
import sys
import zlib

#: The executable's loader: every call compiles it, so it stays small. It runs the client from the node's
#: bytecode copy (written by the client itself on a call that found none: compiling the client costs a call
#: about as much as the interpreter's start), else from the modules this file carries, which it reads only
#: then. The copy is named by the client's source hash and the interpreter's cache tag, and is used only
#: when root owns it and its directory and neither is writable by anyone else.
LOADER = """# podnet.calico CNI plugin (calico, calico-ipam): see docs/cni.md, "The executable"
import sys
NAME = 'ansible_collections.podnet.calico.plugins.module_utils.cni._client'
CACHE = '/run/podnet-cni/bytecode/client-%s.%s' % ('{client_hash}', sys.implementation.cache_tag)
MARK = b'\\n{mark}\\n'
OURS = ('ansible_collections', 'ansible_collections.podnet', 'ansible_collections.podnet.calico')


class Payload(object):
    # Finder and loader of the modules carried in this file's last lines; read on the first import of one.
    # build_hash names this build: the client names the helper's socket by it (podnet_cni_build.py,
    # HASH_PLACEHOLDER: what the hash covers)
    build_hash = '{build_hash}'

    def __init__(self, path):
        self.archive = path
        self._files = None

    def files(self):
        if self._files is None:
            import binascii
            import marshal
            import zlib
            with open(self.archive, 'rb') as handle:
                body = handle.read().split(MARK, 1)[1]
            self._files = marshal.loads(zlib.decompress(binascii.a2b_base64(
                b''.join(line[1:] for line in body.splitlines()))))
        return self._files

    def entry(self, fullname):
        base = fullname.replace('.', '/')
        for name, package in ((base + '/__init__.py', True), (base + '.py', False)):
            if name in self.files():
                return name, package
        return None, False

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in OURS and not fullname.startswith('ansible_collections.podnet.calico.'):
            return None
        name, package = self.entry(fullname)
        if name is None:
            return None
        spec = type(sys.__spec__)(fullname, self, origin='%s/%s' % (self.archive, name), is_package=package)
        spec.has_location = True
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.get_code(module.__name__), module.__dict__)

    def is_package(self, fullname):
        return self.entry(fullname)[1]

    def get_code(self, fullname):
        name = self.entry(fullname)[0]
        compiled = self.files().get(name + 'c')
        if compiled and compiled[:4] == sys.modules['_frozen_importlib_external'].MAGIC_NUMBER:
            import marshal
            return marshal.loads(compiled[16:])
        return compile(self.files()[name], '%s/%s' % (self.archive, name), 'exec', dont_inherit=True)

    def get_source(self, fullname):
        return self.files()[self.entry(fullname)[0]].decode('utf-8')


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
        module.__loader__ = PAYLOAD
        module.__file__ = code.co_filename
        sys.modules[NAME] = module
        exec(code, module.__dict__)
        module.BYTECODE = 'cache'
        return module
    except Exception:
        sys.modules.pop(NAME, None)
        return None


PAYLOAD = Payload(__file__)
# ours before the path finder: a copy of the collection in site-packages never replaces the one carried here
FINDERS = [getattr(f, '__name__', '') for f in sys.meta_path]
sys.meta_path.insert(FINDERS.index('PathFinder') if 'PathFinder' in FINDERS else len(FINDERS), PAYLOAD)
client = cached() if sys.implementation.cache_tag else None
if client is None:
    __import__(NAME)
    client = sys.modules[NAME]
    client.save_bytecode(CACHE)
STATUS = client.main()
# no interpreter teardown (milliseconds of freeing objects at every call): flush what was written, then exit
sys.stdout.flush()
sys.stderr.flush()
sys.modules['os']._exit(int(STATUS or 0))
"""
#: The build hash (the loader's Payload.build_hash; the client names the helper's socket by it): the first 16
#: hex digits of the SHA-256 of the executable's bytes, all of them (interpreter line, loader with the
#: client's source hash, the carried modules and their compiled code), except that the hash cannot cover
#: itself: its own 16 digits are hashed as HASH_PLACEHOLDER. Another interpreter, builder or module gives
#: another hash, an unchanged collection the same one.
HASH_PLACEHOLDER = '0' * 16
#: The line between the loader and the carried modules.
MARK = '# podnet-cni-payload: the modules below, zlib-compressed marshal data, base64, one comment line each'
#: Interpreter flags of the first line: no site import and an environment-proof start for the small client
#: (the helper and the in-process fallback load site-packages themselves).
FLAGS = '-IS'
PACKAGES = ('ansible_collections', 'ansible_collections/podnet', 'ansible_collections/podnet/calico',
            'ansible_collections/podnet/calico/plugins')
#: characters of base64 per comment line
LINE = 76


def _pyc(source, name):
    code = compile(source, name, 'exec', dont_inherit=True, optimize=0)
    # unchecked hash-based pyc (PEP 552), as the loader reads it: magic, flags, 8 unused bytes, code
    return importlib.util.MAGIC_NUMBER + (1).to_bytes(4, 'little') + b'\0' * 8 + marshal.dumps(code)


def _hash(data):
    return hashlib.sha256(data).hexdigest()[:16]


def sources(collection_root):
    """[(path inside the collection, path on disk)] of the modules a build reads: every .py file under
    plugins/module_utils, sorted (render() reads these and nothing else of the collection)."""
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
    return sorted(files)


def render(collection_root, interpreter, pyc=False):
    """The executable's text (ASCII), with its build hash written into the loader."""
    files = sources(collection_root)
    carried = {}
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
            carried[init] = b''
    client_source = None
    for rel, path in files:
        with open(path, 'rb') as handle:
            carried['ansible_collections/podnet/calico/' + rel] = handle.read()
        if rel == 'plugins/module_utils/cni/_client.py':
            client_source = carried['ansible_collections/podnet/calico/' + rel]
    if client_source is None:
        raise SystemExit('%s has no plugins/module_utils/cni/_client.py' % collection_root)
    if pyc:
        for name in list(carried):
            carried[name + 'c'] = _pyc(carried[name], name)
    client_hash = _hash(client_source)
    blob = base64.b64encode(zlib.compress(marshal.dumps(dict(sorted(carried.items())), 2), 9)).decode('ascii')
    first = interpreter
    if os.path.isabs(interpreter) and ' ' not in interpreter and os.path.basename(interpreter) != 'env':
        first += ' ' + FLAGS
    head, tail = LOADER.replace('{client_hash}', client_hash).replace('{mark}', MARK).split('{build_hash}')
    head = '#!' + first + '\n' + head
    tail += MARK + '\n' + ''.join('#%s\n' % blob[i:i + LINE] for i in range(0, len(blob), LINE))
    return head + _hash((head + HASH_PLACEHOLDER + tail).encode('ascii')) + tail


def build(collection_root, output, interpreter, pyc=False):
    """Write render()'s text to output (mode 0755, through a temporary file renamed over it)."""
    text = render(collection_root, interpreter, pyc)
    tmp = output + '.tmp%d' % os.getpid()
    with open(tmp, 'w', encoding='ascii', newline='\n') as handle:
        handle.write(text)
    os.chmod(tmp, 0o755)
    os.rename(tmp, output)
    return output


def carried(path):
    """{path inside the collection tree: bytes} of the modules an executable built here carries."""
    with open(path, 'rb') as handle:
        body = handle.read().split(b'\n' + MARK.encode('ascii') + b'\n', 1)[1]
    return marshal.loads(zlib.decompress(base64.b64decode(b''.join(line[1:] for line in body.splitlines()))))


def _hash_field(data):
    """Offset of the build hash's digits in an executable's bytes (the loader's Payload.build_hash)."""
    prefix = b"\n    build_hash = '"
    return data.index(prefix, 0, data.index(b'\n' + MARK.encode('ascii') + b'\n')) + len(prefix)


def build_hash(path):
    """The build hash written into the executable at ``path``: what its client names the helper's socket by."""
    with open(path, 'rb') as handle:
        data = handle.read()
    start = _hash_field(data)
    return data[start:start + len(HASH_PLACEHOLDER)].decode('ascii')


def computed_hash(path):
    """The build hash of the executable at ``path`` computed from its bytes as HASH_PLACEHOLDER says."""
    with open(path, 'rb') as handle:
        data = handle.read()
    start = _hash_field(data)
    return _hash(data[:start] + HASH_PLACEHOLDER.encode('ascii') + data[start + len(HASH_PLACEHOLDER):])


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
