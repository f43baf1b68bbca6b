# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A cache of compiled Jinja templates for ansible-playbook, shared by its workers and kept across runs.

ansible-core compiles a template or an expression each time it meets it: each worker (one per task
and host) compiles the role variables, task options and conditions it templates, again in every
task and on every host. Compiling is parsing, Python code generation and Python's compile(); the
result, a code object, depends only on the source and on the settings of the environment that
compiled it (its delimiters, whitespace rules, extensions, code generator). Rendering stays as it is:
a cached code object is turned into a template exactly as Jinja does it after compiling.

install() wraps the compile methods of ansible-core's Jinja environment. A code object is looked up
by a digest of its source, the compile settings and the versions of Python, Jinja and ansible-core:
first in this process's memory (filled by the main process before it forks the workers), then in the
cache directory, one file per digest. A miss compiles as before and writes the file (0600, in a
directory of this user's that no one else may write to: anything else turns the directory off).
"""

from __future__ import annotations

import contextvars
import hashlib
import marshal
import os
import re
import sys
import types

from ansible_collections.podnet.calico.plugins.plugin_utils.private_files import atomic_write

_NAME = re.compile(r'^[0-9a-f]{40}$')
# The digest of the expression compile_expression is compiling (its node reaches compile without its text).
_EXPRESSION = contextvars.ContextVar('podnet_jinja_cache_expression', default=None)


class JinjaCache:
    """Code objects by digest, in memory and, when a directory is given, on disk."""

    def __init__(self, directory=None, salt=''):
        self.directory = directory
        self.salt = salt
        self.memory = {}
        self.compiled = 0

    def digest(self, environment, kind, source, escape_backslashes, extra=()):
        settings = (
            type(environment).__module__, type(environment).__qualname__,
            getattr(environment.code_generator_class, '__qualname__', repr(environment.code_generator_class)),
            environment.block_start_string, environment.block_end_string,
            environment.variable_start_string, environment.variable_end_string,
            environment.comment_start_string, environment.comment_end_string,
            environment.line_statement_prefix, environment.line_comment_prefix,
            environment.trim_blocks, environment.lstrip_blocks, environment.newline_sequence,
            environment.keep_trailing_newline, sorted(environment.extensions), environment.is_async,
            environment.optimized, 'callable' if callable(environment.autoescape) else environment.autoescape,
            getattr(environment.finalize, '__qualname__', repr(environment.finalize)), escape_backslashes, extra,
        )
        text = repr((self.salt, kind, settings)).encode('utf-8') + b'\0' + source.encode('utf-8', 'surrogatepass')
        return hashlib.sha1(text, usedforsecurity=False).hexdigest()

    def get(self, digest):
        code = self.memory.get(digest)
        if code is None and self.directory:
            code = self._read(os.path.join(self.directory, digest))
            if code is not None:
                self.memory[digest] = code
        return code

    def put(self, digest, code):
        self.memory[digest] = code
        self.compiled += 1
        if not self.directory:
            return
        try:
            atomic_write(os.path.join(self.directory, digest), lambda out: marshal.dump(code, out))
        except OSError:
            # A full or vanished directory costs the next run a compile, nothing else.
            pass

    def load_all(self):
        """Read every entry of the directory into memory (the main process, before it forks)."""
        if not self.directory:
            return 0
        try:
            names = os.listdir(self.directory)
        except OSError:
            return 0
        for name in names:
            if _NAME.match(name) and name not in self.memory:
                code = self._read(os.path.join(self.directory, name))
                if code is not None:
                    self.memory[name] = code
        return len(self.memory)

    @staticmethod
    def _read(path):
        try:
            with open(path, 'rb') as handle:
                code = marshal.load(handle)
        except (OSError, EOFError, ValueError, TypeError):
            return None
        return code if isinstance(code, types.CodeType) else None


def install(directory=None):
    """Wrap ansible-core's Jinja environment's compile methods with a JinjaCache.

    Returns the cache, or raises ImportError/AttributeError when this ansible-core does not have the
    methods the cache wraps (then nothing was changed)."""
    # pylint: disable-next=import-outside-toplevel
    import jinja2
    # pylint: disable-next=import-outside-toplevel
    from jinja2.environment import TemplateExpression
    # pylint: disable-next=import-outside-toplevel
    from ansible.release import __version__ as ansible_version
    # pylint: disable-next=import-outside-toplevel
    from ansible._internal._templating._jinja_bits import AnsibleEnvironment, _TemplateCompileContext

    environment_class = AnsibleEnvironment
    if getattr(environment_class, '_podnet_jinja_cache', None) is not None:
        return environment_class._podnet_jinja_cache
    original_compile = environment_class.compile
    original_expression = environment_class.compile_expression
    # The class's own methods (to put back), apart from those it inherits from Jinja's Environment.
    own = {name: environment_class.__dict__[name] for name in ('compile', 'compile_expression') if name in environment_class.__dict__}
    cache = JinjaCache(directory, salt='%s %s %s %s' % (sys.version, jinja2.__version__, ansible_version, marshal.version))

    def escape_backslashes():
        context = _TemplateCompileContext.current(optional=True)
        return None if context is None else bool(context.escape_backslashes)

    def compile(self, source, name=None, filename=None, raw=False, defer_init=False):  # pylint: disable=redefined-builtin
        if raw or getattr(self, '_debuggable_template_source', False):
            return original_compile(self, source, name, filename, raw, defer_init)
        if isinstance(source, str):
            digest = cache.digest(self, 'template', source, escape_backslashes(), (name, filename, defer_init))
        else:
            # The node of an expression that compile_expression below found no code for, by its digest.
            digest = _EXPRESSION.get()
            if digest is None:
                return original_compile(self, source, name, filename, raw, defer_init)
        code = cache.get(digest)
        if code is None:
            code = original_compile(self, source, name, filename, raw, defer_init)
            cache.put(digest, code)
        return code

    def compile_expression(self, source, undefined_to_none=True):
        if getattr(self, '_debuggable_template_source', False) or not isinstance(source, str):
            return original_expression(self, source, undefined_to_none)
        digest = cache.digest(self, 'expression', source, escape_backslashes(), (None, None, False))
        code = cache.get(digest)
        if code is not None:
            # What Jinja's compile_expression does after the parse: the template of the compiled
            # assignment, wrapped in a TemplateExpression.
            template = self.template_class.from_code(self, code, self.make_globals(None), None)
            return TemplateExpression(template, undefined_to_none)
        token = _EXPRESSION.set(digest)
        try:
            return original_expression(self, source, undefined_to_none)
        finally:
            _EXPRESSION.reset(token)

    environment_class.compile = compile
    environment_class.compile_expression = compile_expression
    environment_class._podnet_jinja_cache = cache
    environment_class._podnet_jinja_originals = own
    return cache


def uninstall():
    """Put ansible-core's compile methods back (install() again starts an empty cache)."""
    # pylint: disable-next=import-outside-toplevel
    from ansible._internal._templating._jinja_bits import AnsibleEnvironment

    originals = getattr(AnsibleEnvironment, '_podnet_jinja_originals', None)
    if originals is None:
        return
    for name in ('compile', 'compile_expression'):
        if name in originals:
            setattr(AnsibleEnvironment, name, originals[name])
        else:
            delattr(AnsibleEnvironment, name)
    del AnsibleEnvironment._podnet_jinja_cache
    del AnsibleEnvironment._podnet_jinja_originals
