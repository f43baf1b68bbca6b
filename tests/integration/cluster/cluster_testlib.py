# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the cluster role tests: a local HTTP server and a CRD file of the tests' own."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time


HERE = os.path.dirname(os.path.abspath(__file__))
FILES = os.path.join(HERE, "files")

# A small CustomResourceDefinition written for these tests. It stands in for Calico's crds.yaml
# (which the role downloads from the pinned Calico release); no Calico text is bundled here.
TEST_CRD = """---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ippools.crd.projectcalico.org
spec:
  group: crd.projectcalico.org
  names:
    kind: IPPool
    listKind: IPPoolList
    plural: ippools
    singular: ippool
  scope: Cluster
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                cidr:
                  type: string
"""


def file_tree(root):
    """{path under root: (sha256, st_mode)} of every file under root: what a run may not change."""
    out = {}
    for base, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(base, name)
            with open(path, "rb") as handle:
                out[os.path.relpath(path, root)] = (hashlib.sha256(handle.read()).hexdigest(), os.stat(path).st_mode)
    return out


def free_port(address):
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def wait_port(address, port, netns=None, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        cmd = ["nc", "-z", "-w", "1", address, str(port)]
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        if subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError("HTTP server on %s:%d did not come up" % (address, port))


class HttpServer:
    """python -m http.server serving a directory, optionally inside a network namespace."""

    def __init__(self, directory, address="127.0.0.1", port=None, netns=None):
        self.directory = directory
        self.address = address
        self.port = port or free_port("127.0.0.1")
        cmd = [sys.executable, "-m", "http.server", "--bind", address, "--directory", directory, str(self.port)]
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(address, self.port, netns)
        except RuntimeError:
            self.stop()
            raise

    def url(self, name):
        return "http://%s:%d/%s" % (self.address, self.port, name)

    def add(self, name, data):
        path = os.path.join(self.directory, name)
        with open(path, "wb") as handle:
            handle.write(data if isinstance(data, bytes) else data.encode())
        return hashlib.sha256(data if isinstance(data, bytes) else data.encode()).hexdigest()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
