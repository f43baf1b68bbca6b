# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address claims of several nodes grouped by the IPAM settings they need: one calico_ipam call each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ansible.errors import AnsibleFilterError


def calico_ipam_batches(claims):
    """Group claims (calico_ipam handle entries with their ``settings``) by equal settings.

    Claims without a handle are left out. The batches come in the order of their first claim, and each
    holds its claims in input order, without ``settings``: [{'settings': ..., 'handles': [...]}, ...].
    """
    if isinstance(claims, (str, bytes, Mapping)) or not isinstance(claims, Iterable):
        raise AnsibleFilterError("calico_ipam_batches: the input must be a list of claims, got %s"
                                 % type(claims).__name__)
    batches = []
    for index, claim in enumerate(claims):
        if not isinstance(claim, Mapping):
            raise AnsibleFilterError("calico_ipam_batches: claims[%d] is not a dict: %r" % (index, claim))
        if not claim.get("handle"):
            continue
        if "settings" not in claim:
            raise AnsibleFilterError("calico_ipam_batches: claims[%d] (%s) has no settings" % (index, claim["handle"]))
        settings = claim["settings"]
        entry = dict((key, value) for key, value in claim.items() if key != "settings")
        for batch in batches:
            if batch["settings"] == settings:
                batch["handles"].append(entry)
                break
        else:
            batches.append({"settings": settings, "handles": [entry]})
    return batches


class FilterModule:
    """Calico IPAM batching filter."""

    def filters(self):
        return {"calico_ipam_batches": calico_ipam_batches}
