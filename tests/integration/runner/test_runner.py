# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab playbooks run unattended through ansible-runner, the engine of AWX job templates.

Extra variables are given as strings, the way an AWX survey sends its answers, and the job is
judged the way AWX judges it: by the runner's status, return code and events.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys
import tempfile

import pytest
import yaml

from podnet_testlib import COLLECTIONS, ROOT, TEST_PREFIX, VENV_BIN, kill_netns
from podnet_testlib import namespaces_with_prefix as prefix_namespaces
from podnet_testlib import our_deprecations

ansible_runner = pytest.importorskip("ansible_runner", reason="ansible-runner is not installed in this venv")

PREFIX = TEST_PREFIX + "r"
UNDERLAY = "10.89.220.0/24"
POD_CIDR = "10.247.0.0/16"
PROMPTING_KEYS = {"vars_prompt", "pause", "ansible.builtin.pause", "ansible.legacy.pause"}


class RunnerJob:
    """A private data dir laid out as AWX lays it out for a job, and the jobs run from it."""

    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="podnet-test-runner-")
        self.state_dir = os.path.join(self.base, "lab")  # made and removed by the lab itself
        os.makedirs(os.path.join(self.base, "inventory"))
        with open(os.path.join(self.base, "inventory", "hosts"), "w") as handle:
            handle.write("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
        # Survey answers arrive as strings: numbers included.
        self.extravars = {
            "lab_prefix": PREFIX,
            "lab_state_dir": self.state_dir,
            "lab_nodes": "2",
            "lab_underlay_cidr": UNDERLAY,
            "lab_pod_cidr": POD_CIDR,
        }
        self.envvars = {
            "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
            "ANSIBLE_HOME": os.path.join(self.base, "ansible-home"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_DEPRECATION_WARNINGS": "1",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
        }

    def run(self, playbook, ident, **extra):
        evars = dict(self.extravars)
        evars.update(extra)
        return ansible_runner.run(
            private_data_dir=self.base,
            project_dir=ROOT,
            playbook=os.path.join("playbooks", playbook),
            ident=ident,
            extravars=evars,
            envvars=self.envvars,
            quiet=True,
            timeout=900,
        )

    def state(self):
        with open(os.path.join(self.state_dir, "lab.json")) as handle:
            return json.load(handle)

    def cleanup(self):
        """Take the lab down even when the test failed; then remove what is left by our own ids."""
        try:
            self.run("lab_down.yml", "cleanup")
        finally:
            for name in prefix_namespaces(PREFIX):
                kill_netns(name)
            shutil.rmtree(self.base, ignore_errors=True)


def assert_no_deprecation_of_ours(result):
    """The job's whole output (AWX shows it) has no deprecation warning from the collection."""
    try:
        text = result.stdout.read()
    except (OSError, ValueError, AttributeError):
        text = ""
    text += "".join(event.get("stdout", "") + "\n" for event in result.events)
    assert not our_deprecations(text), "\n\n".join(our_deprecations(text))


def job_output(result):
    try:
        return result.stdout.read()[-6000:]
    except (OSError, ValueError, AttributeError):
        return "(no stdout)"


def walk_keys(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from walk_keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk_keys(item)


@pytest.fixture
def job():
    if os.geteuid() != 0:
        pytest.skip("the lab makes network namespaces: run as root")
    job = RunnerJob()
    try:
        yield job
    finally:
        job.cleanup()


def test_lab_up_and_down_through_ansible_runner(job):
    up = job.run("lab_up.yml", "up")
    assert up.status == "successful", job_output(up)
    assert up.rc == 0, job_output(up)

    events = list(up.events)
    assert len(events) > 0
    kinds = {event.get("event") for event in events}
    assert "playbook_on_stats" in kinds, sorted(kinds)
    ok_hosts = {event["event_data"].get("host") for event in events if event.get("event") == "runner_on_ok"}
    assert {"localhost", "node1", "node2"} <= ok_hosts, sorted(ok_hosts)
    assert not [e for e in events if e.get("event") in ("runner_on_failed", "runner_on_unreachable")
                and not e["event_data"].get("ignore_errors")]
    assert set(up.stats["ok"]) >= {"localhost", "node1", "node2"}, up.stats

    # The survey's "2" became two nodes, each a namespace of our prefix.
    with open(os.path.join(job.state_dir, "lab.json")) as handle:
        state = json.load(handle)
    assert [node["name"] for node in state["nodes"]] == ["node1", "node2"]
    assert state["underlay_cidr"] == UNDERLAY
    made = prefix_namespaces(PREFIX)
    assert {"%s-node1" % PREFIX, "%s-node2" % PREFIX} <= set(made), made
    assert "%s-node3" % PREFIX not in made, made
    for node in state["nodes"]:
        assert os.path.exists("/run/netns/" + node["netns"]), node

    # The main job template: build and verify Calico's data plane; survey answers as strings.
    main = job.run("lab.yml", "main", lab_pods_per_node="1", lab_routing="static")
    assert main.status == "successful", job_output(main)
    verdicts = [e["event_data"]["res"].get("msg") for e in main.events
                if e.get("event") == "runner_on_ok" and "Every observation holds" in e["event_data"].get("task", "")]
    assert verdicts and "observations hold on 2 nodes" in verdicts[0], verdicts
    assert len(job.state()["pods"]) == 2

    # A re-launch of the job template changes nothing.
    again = job.run("lab.yml", "main-again", lab_pods_per_node="1", lab_routing="static")
    assert again.status == "successful", job_output(again)
    assert not again.stats.get("changed"), again.stats
    for result in (up, main, again):
        assert_no_deprecation_of_ours(result)

    down = job.run("lab_down.yml", "down")
    assert down.status == "successful", job_output(down)
    assert down.rc == 0
    assert any(e.get("event") == "playbook_on_stats" for e in down.events)
    assert prefix_namespaces(PREFIX) == []
    assert not os.path.exists(job.state_dir)


def test_bad_survey_answer_fails_before_anything_is_built(job):
    bad = job.run("lab_up.yml", "bad", lab_nodes="two")
    assert bad.status == "failed", job_output(bad)
    assert bad.rc != 0
    failed = [e for e in bad.events if e.get("event") == "runner_on_failed"]
    assert failed, "no failed event"
    message = json.dumps(failed[0]["event_data"].get("res", {}))
    assert "lab_nodes" in message, message
    assert prefix_namespaces(PREFIX) == []


UNATTENDED_FILES = sorted(glob.glob(os.path.join(ROOT, "playbooks", "*.yml"))
                          + glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml"))
                          + glob.glob(os.path.join(ROOT, "roles", "*", "handlers", "*.yml")))


def test_playbooks_are_found():
    names = [os.path.basename(p) for p in UNATTENDED_FILES]
    assert {"lab.yml", "lab_up.yml", "lab_down.yml", "site.yml"} <= set(names), names


@pytest.mark.parametrize("path", UNATTENDED_FILES, ids=lambda p: os.path.relpath(p, ROOT))
def test_playbooks_never_prompt(path):
    """A job template has nobody to answer a prompt: no vars_prompt in plays, no pause in tasks."""
    with open(path) as handle:
        content = yaml.safe_load(handle) or []
    assert isinstance(content, list), path
    found = PROMPTING_KEYS & set(walk_keys(content))
    assert not found, "%s waits for a person (%s): a job template cannot answer" % (path, sorted(found))
