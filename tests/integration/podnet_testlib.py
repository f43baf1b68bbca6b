# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one shared library of the tests and benchmarks: namespaces, ansible-playbook runs, a test lab.

Used by the pytest fixtures (tests/integration/conftest.py) and by bench/ (which puts this
directory on sys.path): one namespace factory (NamespaceFactory), one kill helper (kill_netns),
one playbook runner (run_playbook), one deprecation scanner (deprecations, our_deprecations).

Everything made here carries the test prefix (pt<pid>) and lives in its own state dir, so a lab
that a user has up (prefix pn, /tmp/podnet-lab) is never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
TEST_PREFIX = "pt%d" % (os.getpid() % 100000)
#: Namespaces of the NamespaceFactory (the session lab uses TEST_PREFIX).
FACTORY_PREFIX = TEST_PREFIX + "n"

# Interpreters the module tests run under: the venv (pyroute2 0.9) and Debian's (pyroute2 0.7).
PYTHON_INTERPRETERS = [sys.executable]
if os.path.exists("/usr/bin/python3"):
    PYTHON_INTERPRETERS.append("/usr/bin/python3")


def ansible_env(extra=None):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        # Deprecations are shown (and those of the collection fail the run: run_playbook).
        "ANSIBLE_DEPRECATION_WARNINGS": "1",
        "ANSIBLE_HOME": os.path.join(ROOT, ".build", "ansible-home"),
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(ROOT, "tests", "integration", "callback_plugins"),
        "PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
    })
    # A value of None removes the variable (for example a setting make exports).
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


# What marks a deprecation warning as the collection's own: its name, or a file of ours (the
# working tree's roles, playbooks, plugins, tests, molecule, or any installed copy of it).
OUR_MARKERS = ("podnet.calico", "ansible_collections/podnet/calico/") + tuple(
    os.path.join(ROOT, part) + os.sep for part in ("roles", "playbooks", "plugins", "tests", "molecule", "bench"))
_MESSAGE_START = re.compile(r"^\[(DEPRECATION WARNING|WARNING|ERROR)\]")
_BLOCK_END = re.compile(r"^(PLAY |TASK |RUNNING HANDLER |PLAY RECAP|\{\"plays\")")

# Every deprecation seen by run_playbook in this process (tests/conftest.py lists them at the end).
SEEN_DEPRECATIONS = []


def deprecations(text):
    """The `[DEPRECATION WARNING]` messages in ansible's output, each with its Origin and context lines."""
    blocks, current = [], None
    for line in text.splitlines():
        if _MESSAGE_START.match(line) or _BLOCK_END.match(line):
            if current:
                blocks.append("\n".join(current).rstrip())
            current = [line] if line.startswith("[DEPRECATION WARNING]") else None
        elif current is not None:
            current.append(line)
    if current:
        blocks.append("\n".join(current).rstrip())
    return blocks


def our_deprecations(text, markers=OUR_MARKERS):
    """The deprecation messages that name the collection or one of its files."""
    return [block for block in deprecations(text) if any(marker in block for marker in markers)]


class PlaybookResult:
    """The outcome of one ansible-playbook run (JSON callback)."""

    def __init__(self, proc, data, wall=None):
        self.wall = wall
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.data = data or {}
        self.stats = self.data.get("stats", {})

    @property
    def changed(self):
        return sum(h.get("changed", 0) for h in self.stats.values())

    @property
    def failed(self):
        return sum(h.get("failures", 0) + h.get("unreachable", 0) for h in self.stats.values())

    def tasks(self):
        for play in self.data.get("plays", []):
            yield from play.get("tasks", [])

    def results(self, name):
        """Per-host results of the task(s) called name."""
        out = {}
        for task in self.tasks():
            full = task["task"]["name"]
            if full == name or full.endswith(" : " + name):
                out.update(task["hosts"])
        return out

    def failures(self):
        msgs = []
        for task in self.tasks():
            for host, res in task["hosts"].items():
                if res.get("failed") or res.get("unreachable"):
                    msgs.append("%s | %s: %s" % (host, task["task"]["name"], res.get("msg", res)))
        return msgs

    def changed_tasks(self):
        return ["%s | %s" % (host, task["task"]["name"])
                for task in self.tasks() for host, res in task["hosts"].items() if res.get("changed")]

    def __repr__(self):
        return "<PlaybookResult rc=%s changed=%s failures=%s stderr=%s>" % (
            self.rc, self.changed, self.failures(), self.stderr[-2000:])


def run_playbook(playbook, extra_vars=None, check=False, diff=False, inventory="localhost,", limit=None,
                 interpreter=None, expect_fail=False, env=None, timeout=900, cwd=ROOT):
    """Run ansible-playbook with the collection from this checkout; fail the test on surprise.

    Surprises: a wrong exit code, or a deprecation warning that comes from the collection
    (deprecation warnings are on; every one seen is kept in SEEN_DEPRECATIONS). `wall` on the
    result is the run's wall-clock time in seconds (bench/ uses it).
    """
    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", inventory, playbook]
    evars = dict(extra_vars or {})
    if interpreter:
        evars["ansible_python_interpreter"] = interpreter
    if evars:
        cmd += ["-e", json.dumps(evars)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if limit:
        cmd += ["--limit", limit]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=ansible_env(dict({"ANSIBLE_STDOUT_CALLBACK": "podnet_json"}, **(env or {}))),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=timeout, check=False)
    wall = time.monotonic() - start
    try:
        # The JSON document, and nothing after it (a callback may print after the stdout callback).
        data = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index('{"plays"'):])[0] if '{"plays"' in proc.stdout else {}
    except ValueError:
        data = {}
    result = PlaybookResult(proc, data, wall)
    seen = deprecations(proc.stderr + "\n" + proc.stdout)
    SEEN_DEPRECATIONS.extend(seen)
    ours = [block for block in seen if any(marker in block for marker in OUR_MARKERS)]
    assert not ours, "%s: deprecation warnings from podnet.calico:\n\n%s" % (playbook, "\n\n".join(ours))
    if expect_fail:
        assert result.rc != 0, "expected %s to fail, it passed" % playbook
    else:
        assert result.rc == 0, "%s failed: %r\n%s" % (playbook, result, proc.stdout[-4000:])
    return result


def netns_exists(name):
    return os.path.exists("/run/netns/%s" % name)


def namespaces_with_prefix(prefix):
    """Names of the network namespaces called <prefix>-..."""
    out = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, universal_newlines=True,
                         check=True).stdout
    return [line.split()[0] for line in out.splitlines()
            if line.split() and line.split()[0].startswith(prefix + "-")]


def kill_netns(name):
    """Kill every process in a namespace, then delete it."""
    pids = subprocess.run(["ip", "netns", "pids", name], stdout=subprocess.PIPE, universal_newlines=True,
                          check=False).stdout.split()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(int(pid), sig)
            except OSError:
                pass
        time.sleep(0.05)
    subprocess.run(["ip", "netns", "del", name], check=False, stderr=subprocess.DEVNULL)


class NamespaceFactory:
    """Makes network namespaces <prefix>-<suffix> (lo up) and removes every one it made.

    factory = NamespaceFactory(); node = factory("node"); ...; factory.cleanup()
    Names are <prefix>-<suffix> with the prefix pt<pid>n by default (never the session lab's).
    A leftover namespace of the same name (an earlier run killed hard) is removed first.
    """

    def __init__(self, prefix=None):
        # Not TEST_PREFIX itself: that is the session lab's prefix, and a factory name such as
        # "<prefix>-sink" would replace the lab's own namespace of that name.
        self.prefix = prefix or FACTORY_PREFIX
        self.made = []

    def __call__(self, suffix):
        name = "%s-%s" % (self.prefix, suffix)
        if netns_exists(name):
            kill_netns(name)
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.made.append(name)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        return name

    def many(self, suffixes):
        return [self(suffix) for suffix in suffixes]

    def cleanup(self):
        while self.made:
            kill_netns(self.made.pop())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


LAB_PLAYBOOK_UP = os.path.join(ROOT, "playbooks", "lab_up.yml")
LAB_PLAYBOOK_DOWN = os.path.join(ROOT, "playbooks", "lab_down.yml")


class LabUnderTest:
    """A lab of the test's own (prefix, state dir, underlay)."""

    def __init__(self, nodes=3, underlay="10.89.200.0/24", pod_cidr="10.246.0.0/16"):
        self.prefix = TEST_PREFIX
        self.state_dir = tempfile.mkdtemp(prefix="podnet-test-lab-")
        os.rmdir(self.state_dir)  # the lab makes (and later removes) it itself
        self.vars = {
            "lab_prefix": self.prefix,
            "lab_state_dir": self.state_dir,
            "lab_nodes": nodes,
            "lab_underlay_cidr": underlay,
            "lab_pod_cidr": pod_cidr,
            # The session lab runs lab_deploy.yml without lab_cluster.yml (no containerd config, no
            # etcd): its pods are wired by calico_node. tests/integration/lab/test_lab_main.py runs
            # the main job in both modes.
            "lab_pods_by": "ansible",
        }
        self.inventory = os.path.join(self.state_dir, "inventory.yml")
        self.state_file = os.path.join(self.state_dir, "lab.json")

    def up(self, **kwargs):
        return run_playbook(LAB_PLAYBOOK_UP, extra_vars=self.vars, **kwargs)

    def down(self, **kwargs):
        return run_playbook(LAB_PLAYBOOK_DOWN, extra_vars=self.vars, **kwargs)

    def state(self):
        with open(self.state_file) as handle:
            return json.load(handle)

    def namespaces(self):
        return namespaces_with_prefix(self.prefix)

    def playbook(self, playbook, **kwargs):
        """Run a playbook against the lab's inventory."""
        kwargs.setdefault("inventory", self.inventory)
        extra = dict(self.vars)
        extra.update(kwargs.pop("extra_vars", None) or {})
        return run_playbook(playbook, extra_vars=extra, **kwargs)

    def cleanup(self):
        """Last resort teardown by the lab's own ids (namespaces of our prefix, our state dir)."""
        try:
            self.down()
        finally:
            for name in self.namespaces():
                kill_netns(name)
            shutil.rmtree(self.state_dir, ignore_errors=True)


def main(argv):
    """`podnet_testlib.py deprecations FILE...`: print the collection's deprecation warnings found in
    ansible output files (molecule, ansible-test, the build's lab run); exit 1 when there is one."""
    if len(argv) < 3 or argv[1] != "deprecations":
        sys.stderr.write("usage: %s deprecations FILE...\n" % argv[0])
        return 2
    found = []
    for path in argv[2:]:
        with open(path, encoding="utf-8", errors="replace") as handle:
            found += ["%s:\n%s" % (path, block) for block in our_deprecations(handle.read())]
    for block in found:
        print(block + "\n")
    print("%d deprecation warning(s) from podnet.calico" % len(found))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
