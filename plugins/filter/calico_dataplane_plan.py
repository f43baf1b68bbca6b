# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-node plan as a Jinja filter (the logic lives in module_utils/calico/_plan.py)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.calico.plugins.module_utils.calico._plan import PlanError, dataplane_plan


def calico_dataplane_plan(spec):
    """What Calico programs on one node, as the config lists of the data-plane modules."""
    try:
        return dataplane_plan(spec)
    except PlanError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    """Calico data-plane planning filter."""

    def filters(self):
        return {"calico_dataplane_plan": calico_dataplane_plan}
