# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Our tasks call the dependencies' modules with options those modules document.

ansible-lint's `args` rule runs a module's own argument parsing, but it skips modules that have an
action plugin of the same name, and kubernetes.core.k8s and k8s_info have one. This test reads
each called module's documentation (doc fragments merged, as ansible-doc shows it) from the pinned
collections in .build/collections and checks every task that calls a module of a galaxy.yml
dependency: option names (aliases allowed), nested suboptions, choices and the basic type of
literal values (templated values are left to run time), and required options.
"""

from __future__ import annotations

import glob
import os

import pytest
import yaml

from ansible.plugins.loader import fragment_loader, init_plugin_loader, module_loader
from ansible.utils.plugin_docs import get_docstring

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")

TASK_KEYWORDS = {
    "name", "when", "register", "loop", "loop_control", "until", "retries", "delay", "run_once",
    "no_log", "become", "become_user", "delegate_to", "changed_when", "failed_when", "check_mode",
    "diff", "tags", "vars", "environment", "notify", "listen", "ignore_errors", "args", "timeout",
    "any_errors_fatal", "throttle", "connection", "module_defaults", "delegate_facts", "with_items",
    "with_dict", "with_fileglob", "ignore_unreachable", "action", "local_action", "async", "poll",
}


def _dependencies():
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        return sorted((yaml.safe_load(handle).get("dependencies") or {}).keys())


def _tasks(node):
    """Every task dict below a list of tasks or plays (blocks, rescue, always, handlers)."""
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        nested = False
        for key in ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always"):
            if isinstance(node.get(key), list):
                nested = True
                yield from _tasks(node[key])
        if not nested:
            yield node


def _calls(prefixes):
    files = sorted(glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml"))
                   + glob.glob(os.path.join(ROOT, "roles", "*", "handlers", "*.yml"))
                   + glob.glob(os.path.join(ROOT, "playbooks", "*.yml")))
    for path in files:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
        for task in _tasks(data or []):
            for key, value in task.items():
                if key not in TASK_KEYWORDS and key.startswith(prefixes):
                    yield os.path.relpath(path, ROOT), task.get("name", "?"), key, value


def _templated(value):
    return isinstance(value, str) and ("{{" in value or "{%" in value)


TYPES = {
    "str": (str,), "path": (str,), "raw": (object,), "dict": (dict,), "list": (list,),
    "bool": (bool,), "int": (int,), "float": (int, float), "jsonarg": (str, dict, list),
    "json": (str, dict, list),
}


def _check(options, args, where):
    """Problems with ARGS against the documented OPTIONS (recursively)."""
    problems = []
    names = {}
    for name, spec in options.items():
        names[name] = spec
        for alias in spec.get("aliases") or []:
            names[alias] = spec
    if not isinstance(args, dict):
        return problems if _templated(args) else ["%s: expected options, got %r" % (where, args)]
    for key, value in args.items():
        spec = names.get(key)
        if spec is None:
            problems.append("%s: unknown option %s (documented: %s)" % (where, key, ", ".join(sorted(options))))
            continue
        if _templated(value):
            continue
        kind = spec.get("type", "str")
        if kind in TYPES and not isinstance(value, TYPES[kind]) and not (kind == "str" and isinstance(value, (int, float))):
            problems.append("%s.%s: %r is not of type %s" % (where, key, value, kind))
            continue
        if spec.get("choices") and kind != "list" and value not in spec["choices"]:
            problems.append("%s.%s: %r is not one of %s" % (where, key, value, spec["choices"]))
        sub = spec.get("suboptions")
        if sub and kind == "dict":
            problems += _check(sub, value, "%s.%s" % (where, key))
        elif sub and kind == "list" and isinstance(value, list):
            for index, item in enumerate(value):
                problems += _check(sub, item, "%s.%s[%d]" % (where, key, index))
    for name, spec in options.items():
        if spec.get("required") and name not in args and not any(a in args for a in spec.get("aliases") or []):
            problems.append("%s: required option %s is missing" % (where, name))
    return problems


@pytest.fixture(scope="module")
def documented():
    if not os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "kubernetes", "core")):
        pytest.fail("the dependency collections are not in %s: run `make collections`" % COLLECTIONS)
    init_plugin_loader([COLLECTIONS])
    cache = {}

    def load(fqcn):
        if fqcn not in cache:
            context = module_loader.find_plugin_with_context(fqcn)
            assert context.resolved, "%s is not installed in %s" % (fqcn, COLLECTIONS)
            doc = get_docstring(context.plugin_resolved_path, fragment_loader, collection_name=".".join(fqcn.split(".")[:2]))[0]
            cache[fqcn] = doc.get("options") or {}
        return cache[fqcn]

    return load


def test_roles_call_dependency_modules():
    """The roles really use kubernetes.core (the reason it is a dependency), and this test sees it."""
    called = {module for _path, _name, module, _args in _calls(tuple(d + "." for d in _dependencies()))}
    assert {"kubernetes.core.k8s", "kubernetes.core.k8s_info"} <= called


def test_dependency_module_arguments(documented):
    problems = []
    for path, name, module, args in _calls(tuple(d + "." for d in _dependencies())):
        problems += _check(documented(module), args, "%s: %s: %s" % (path, name, module))
    assert not problems, "\n".join(problems)


def test_checker_catches_wrong_arguments(documented):
    """The check itself fails on what it must catch (guards against a checker that passes all)."""
    options = documented("kubernetes.core.k8s")
    assert _check(options, {"state": "present", "bogus": 1}, "t") == [
        "t: unknown option bogus (documented: %s)" % ", ".join(sorted(options))]
    assert _check(options, {"state": "gone"}, "t")
    assert _check(options, {"server_side_apply": {"field_manager": "x", "force": True}}, "t")
    assert not _check(options, {"server_side_apply": {"field_manager": "x", "force_conflicts": True},
                                "wait_timeout": "{{ t }}", "state": "present"}, "t")
