# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make the collection importable as ansible_collections.podnet.calico for pytest."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "podnet", "calico")

if not os.path.exists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(ROOT, LINK)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", COLLECTIONS)


def pytest_terminal_summary(terminalreporter):
    """Deprecations seen, not hidden: list every deprecation warning the playbook runs printed.

    Those of the collection already failed their test (podnet_testlib.run_playbook); the others
    (ansible-core, dependencies) are listed here once each so that they are seen.
    """
    testlib = sys.modules.get("podnet_testlib")
    seen = sorted(set(getattr(testlib, "SEEN_DEPRECATIONS", None) or []))
    if seen:
        terminalreporter.section("deprecation warnings printed by ansible (%d distinct)" % len(seen))
        for block in seen:
            terminalreporter.write_line(block)
            terminalreporter.write_line("")
