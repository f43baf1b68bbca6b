# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""calico_ipam and calico_ipam_info through ansible-playbook against localhost: on a real etcd
with TLS, and playbooks/ipam_audit.yml. The SQLite cases are the ansible-test targets
tests/integration/targets/calico_ipam and calico_ipam_info (make integration-targets)."""

from __future__ import annotations

import os

HERE = os.path.dirname(os.path.abspath(__file__))

PLAYBOOKS = os.path.join(HERE, "playbooks")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def test_etcd_tls_module(run_playbook, etcd_tls, tmp_path):
    import sys
    args = etcd_tls.module_args()
    bad_key = str(tmp_path / "wrong-key.pem")
    with open(etcd_tls.certs["server_key"]) as src, open(bad_key, "w") as dst:
        dst.write(src.read())
    result = run_playbook(os.path.join(PLAYBOOKS, "etcd_module.yml"), interpreter=sys.executable,
                          extra_vars={"etcd": args, "bad_key": bad_key, "other_ca": etcd_tls.certs["other_ca"]})
    assert result.failed == 0


def test_ipam_audit_playbook(run_playbook, tmp_path):
    import sys
    db = str(tmp_path / "ipam.sqlite")
    run_playbook(os.path.join(PLAYBOOKS, "audit_setup.yml"), extra_vars={"db": db}, interpreter=sys.executable)
    audit = os.path.join(ROOT, "playbooks", "ipam_audit.yml")
    live = ["default.live-1", "default.live-2"]
    # Report only, then fail on leaks, then release, then nothing left.
    report = run_playbook(audit, interpreter=sys.executable,
                          extra_vars={"ipam_audit_sqlite_path": db, "ipam_audit_live_handles": live})
    assert report.changed == 0
    info = report.results("Read and check the IPAM records and find the leaks")["localhost"]
    assert [leak["handle"] for leak in info["leaks"]] == ["default.gone-1", "default.gone-2"]
    assert info["check"]["problems"] == [] and not info["check"]["ok"]
    run_playbook(audit, interpreter=sys.executable, expect_fail=True,
                 extra_vars={"ipam_audit_sqlite_path": db, "ipam_audit_live_handles": live,
                             "ipam_audit_fail_on_leaks": True})
    released = run_playbook(audit, interpreter=sys.executable,
                            extra_vars={"ipam_audit_sqlite_path": db, "ipam_audit_live_handles": live,
                                        "ipam_audit_release": True})
    assert released.changed == 1
    rel = released.results("Release the leaked addresses")["localhost"]
    assert sorted(r["handle"] for r in rel["released"]) == ["default.gone-1", "default.gone-2"]
    again = run_playbook(audit, interpreter=sys.executable,
                         extra_vars={"ipam_audit_sqlite_path": db, "ipam_audit_live_handles": live,
                                     "ipam_audit_release": True, "ipam_audit_fail_on_leaks": True})
    assert again.changed == 0
    info = again.results("Read and check the IPAM records and find the leaks")["localhost"]
    assert info["leaks"] == [] and len(info["handles"]) == 2 and info["check"]["ok"]
