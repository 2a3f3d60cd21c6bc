# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print one JSON document with every task result, for the integration tests.

ansible-core ships no JSON stdout callback, and the tests need `changed`,
`diff` and module return values per task and host to assert on them.
"""

from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: lab_json
type: stdout
short_description: Task results as one JSON document
description:
  - Prints, at the end of the run, every task's result per host and the
    play recap, as JSON.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "lab_json"

    def __init__(self):
        super().__init__()
        self._plays = []

    def v2_playbook_on_play_start(self, play):
        self._plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._plays[-1]["tasks"].append(
            {"task": {"name": task.get_name()}, "hosts": {}})

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def _record(self, result, **flags):
        tasks = self._plays[-1]["tasks"]
        entry = dict(self._convert(result._result), **flags)
        tasks[-1]["hosts"][result._host.get_name()] = entry

    @staticmethod
    def _convert(value):
        # Results hold Ansible's own str/dict subclasses; JSON round-trip
        # through their plain forms.
        return json.loads(json.dumps(value, default=str))

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record(result, failed=True, ignored=ignore_errors)

    def v2_runner_on_skipped(self, result, **kwargs):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        summary = {host: stats.summarize(host)
                   for host in sorted(stats.processed)}
        self._display.display(json.dumps(
            {"plays": self._plays, "stats": summary}, indent=1))
