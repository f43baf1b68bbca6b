# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's CRI v1 client (module_utils/lab/_cri, the lab_pods module's), timed for the tests."""

from __future__ import annotations

import time

from ansible_collections.podnet.calico.plugins.module_utils.lab import _cri


class CRI(_cri.CRI):
    def run(self, name, namespace, uid, labels=None):
        """RunPodSandbox; returns (sandbox id, seconds)."""
        start = time.monotonic()
        sandbox = super().run(name, namespace, uid, labels)
        return sandbox, time.monotonic() - start
