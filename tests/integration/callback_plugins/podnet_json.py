# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only stdout callback: one JSON document with every task's per-host results and the stats."""

from __future__ import annotations

DOCUMENTATION = """
name: podnet_json
type: stdout
short_description: JSON output for the collection's integration tests
description:
  - Prints one JSON document at the end of the run with plays, tasks, per-host results and stats.
  - Warnings and deprecation warnings of the tasks are displayed as the default callback displays
    them (on stderr), so the tests see them.
"""

import json
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "podnet_json"

    def __init__(self):
        super().__init__()
        self.plays = []

    def v2_playbook_on_play_start(self, play):
        self.plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def _task(self, task):
        tasks = self.plays[-1]["tasks"]
        if not tasks or tasks[-1]["task"]["id"] != str(task._uuid):
            tasks.append({"task": {"name": task.get_name(), "id": str(task._uuid), "start": time.monotonic()},
                          "hosts": {}})
        return tasks[-1]

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._task(task)

    def _record(self, result, **flags):
        entry = self._task(result._task)
        data = dict(self._clean(result._result))
        data.update(flags)
        # Shown on stderr as the default callback shows them (this pops them from the result only).
        self._handle_warnings_and_exception(result)
        host = result._host.get_name()
        if host in entry["hosts"] and "results" in entry["hosts"][host]:
            return
        entry["hosts"][host] = data

    def _clean(self, res):
        try:
            return json.loads(json.dumps(res, default=str))
        except (TypeError, ValueError):
            return {"repr": repr(res)}

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True, ignored=ignore_errors)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        end = time.monotonic()
        ordered = [t for p in self.plays for t in p["tasks"]]
        for task, following in zip(ordered, ordered[1:] + [None]):
            task["task"]["duration"] = round((following["task"]["start"] if following else end)
                                             - task["task"]["start"], 3)
        summary = {host: stats.summarize(host) for host in sorted(stats.processed)}
        self._display.display(json.dumps({"plays": self.plays, "stats": summary}, default=str))
