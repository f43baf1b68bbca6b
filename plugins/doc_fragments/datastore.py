# -*- coding: utf-8 -*-
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):

    # Kept in step with DATASTORE_ARGUMENT_SPEC in plugins/module_utils/ipam/_datastore.py.
    DOCUMENTATION = r'''
options:
  datastore:
    description:
      - Where the IPAM records live.
      - V(sqlite) is one SQLite file on the machine that runs the task (usually the controller,
        with C(delegate_to=localhost)); several processes may share it.
      - V(etcd) is an etcd v3 cluster reached through its JSON gateway, with the keys and JSON of
        Calico's etcdv3 datastore, so that a real Calico datastore can be read and repaired.
      - Both hold the same keys and the same JSON records.
    type: str
    choices: [sqlite, etcd]
    default: sqlite
  sqlite_path:
    description:
      - The SQLite file for O(datastore=sqlite). It and its directory (mode 0700) are created on first write.
    type: path
    default: /var/lib/podnet-calico/ipam.sqlite
  etcd_endpoints:
    description:
      - URLs of the etcd members for O(datastore=etcd), for example V(https://10.0.0.1:2379).
      - A request that cannot reach one member is sent to the next.
      - Required when O(datastore=etcd).
    type: list
    elements: str
  etcd_ca_cert:
    description:
      - PEM file of the certificate authority that signed the etcd server certificates.
    type: path
  etcd_cert:
    description:
      - PEM client certificate for etcd client-certificate authentication. Needs O(etcd_key).
    type: path
  etcd_key:
    description:
      - PEM private key of O(etcd_cert). Only the path is handled; the key's content is never logged.
    type: path
  etcd_timeout:
    description:
      - Seconds to wait for one etcd request before trying the next endpoint.
    type: float
    default: 5.0
'''
