# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A CRI v1 client that asks containerd for pod sandboxes the way the kubelet does."""

from __future__ import annotations

import json
import time

import grpc
from cri_api.v1 import api_pb2 as cri
from cri_api.v1 import api_pb2_grpc as cri_grpc


class CRI:
    def __init__(self, sock, timeout=120):
        self.channel = grpc.insecure_channel("unix://" + sock)
        self.runtime = cri_grpc.RuntimeServiceStub(self.channel)
        self.timeout = timeout

    def version(self):
        return self.runtime.Version(cri.VersionRequest(version="v1"), timeout=self.timeout)

    def run(self, name, namespace, uid, log_directory="/tmp"):
        config = cri.PodSandboxConfig(
            metadata=cri.PodSandboxMetadata(name=name, namespace=namespace, uid=uid, attempt=0),
            hostname=name, log_directory=log_directory,
            linux=cri.LinuxPodSandboxConfig())
        start = time.monotonic()
        resp = self.runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=config), timeout=self.timeout)
        return resp.pod_sandbox_id, time.monotonic() - start

    def status(self, sandbox_id):
        resp = self.runtime.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=True),
                                             timeout=self.timeout)
        info = json.loads(resp.info.get("info", "{}") or "{}")
        return {"ip": resp.status.network.ip, "state": resp.status.state, "pid": info.get("pid"), "info": info}

    def stop(self, sandbox_id):
        self.runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=self.timeout)

    def remove(self, sandbox_id):
        self.runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=self.timeout)

    def list(self):
        return list(self.runtime.ListPodSandbox(cri.ListPodSandboxRequest(), timeout=self.timeout).items)

    def close(self):
        self.channel.close()
