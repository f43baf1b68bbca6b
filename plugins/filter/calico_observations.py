# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja faces of the lab's observations (the logic is in module_utils/lab/_observations.py)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.podnet.calico.plugins.module_utils.lab._observations import (
    ObservationError,
    observations,
    report,
)


def calico_observations(spec):
    """Rows of observations for one node (see the filter's documentation)."""
    try:
        return observations(spec)
    except (ObservationError, KeyError, ValueError) as exc:
        raise AnsibleFilterError("calico_observations: %s" % exc) from exc


def calico_observations_report(rows, lab, infos=None):
    """The lab's table, failures and summary (see the filter's documentation)."""
    try:
        return report(lab, rows, infos)
    except (ObservationError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("calico_observations_report: %s" % exc) from exc


class FilterModule:
    """Lab verification filters."""

    def filters(self):
        return {"calico_observations": calico_observations,
                "calico_observations_report": calico_observations_report}
