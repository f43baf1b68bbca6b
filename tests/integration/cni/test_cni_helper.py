# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plugin's resident per-node helper: started on demand, reused, one per node and build, opt-out,
fallback, idle exit, a killed worker, peer checks, and nothing left after the node's namespace is gone.

Every test makes its own node namespaces and kills them (with every helper in them) at the end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from cni_testlib import TEST_PREFIX, add_netns, build_hash, build_plugin, call, cni_env, in_netns, kill_netns, k8s_args

from ansible_collections.podnet.calico.plugins.module_utils.cni import _client as client

HELPER_FLAG = client.HELPER_FLAG.encode()


def helpers(netns):
    """{pid: socket name} of the podnet CNI helpers running in namespace ``netns`` (not their workers, which
    carry the same command line: a worker's parent is a helper)."""
    out = subprocess.run(["ip", "netns", "pids", netns], stdout=subprocess.PIPE, text=True, check=False).stdout
    found = {}
    for pid in out.split():
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                argv = handle.read().split(b"\0")
            with open("/proc/%s/stat" % pid) as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if HELPER_FLAG in argv and state != "Z":
            found[int(pid)] = argv[argv.index(HELPER_FLAG) + 1].decode()
    return dict((pid, name) for pid, name in found.items() if parent(pid) not in found)


def parent(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as handle:
            return handle.read().strip()
    except OSError:
        return None


def gone(pid, timeout=5.0):
    """True once ``pid`` is no process (or only a zombie) any more."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open("/proc/%d/stat" % pid) as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def nodes():
    made = []

    def make(suffix):
        made.append(add_netns("%s-hlp%s" % (TEST_PREFIX, suffix)))
        return made[-1]
    yield make
    for name in made:
        pids = list(helpers(name))
        kill_netns(name)
        for pid in pids:
            assert gone(pid), "helper %d outlived kill_netns" % pid


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    return os.path.join(build_plugin(str(tmp_path_factory.mktemp("helperbin"))), "calico")


#: STATUS against an etcd port nobody listens on: a quick, real request for the helper (error 50)
STATUS_CONF = {"cniVersion": "1.1.0", "name": "k8s-pod-network", "type": "calico", "datastore_type": "etcdv3",
               "etcd_endpoints": "http://127.0.0.1:9", "nodename": "hlp-node", "ipam": {"type": "calico-ipam"}}


def version(plugin, node, timing, conf=None, **env):
    """A STATUS call; returns the client's timing record (mode, started_helper, ...)."""
    full = dict(cni_env("STATUS"), PODNET_CNI_TIMING_FILE=timing, **env)
    res = call(plugin, node, conf or STATUS_CONF, full)
    assert res.rc == 1 and res.json["code"] == 50, res
    with open(timing) as handle:
        return json.loads(handle.readlines()[-1])


def test_started_on_demand_then_reused(plugin, nodes, tmp_path):
    node = nodes("a")
    timing = str(tmp_path / "timing")
    assert helpers(node) == {}
    first = version(plugin, node, timing)
    assert first["mode"] == "helper" and first["started_helper"], first
    running = helpers(node)
    assert len(running) == 1, running
    assert list(running.values()) == [client.socket_name(build_hash(plugin))]   # named by the loader's constant
    second = version(plugin, node, timing)
    assert second["mode"] == "helper" and not second["started_helper"], second
    assert helpers(node) == running


def test_one_helper_per_node_namespace(plugin, nodes, tmp_path):
    one, two = nodes("n1"), nodes("n2")
    version(plugin, one, str(tmp_path / "t1"))
    version(plugin, two, str(tmp_path / "t2"))
    first, second = helpers(one), helpers(two)
    assert len(first) == 1 and len(second) == 1
    assert set(first).isdisjoint(second)


def test_a_new_build_never_talks_to_the_old_helper(plugin, nodes, tmp_path):
    node = nodes("up")
    version(plugin, node, str(tmp_path / "t"))
    old = helpers(node)
    newer = os.path.join(build_plugin(str(tmp_path / "newbin"), pyc=True), "calico")   # other bytes, same code
    with open(plugin, "rb") as a, open(newer, "rb") as b:
        assert a.read() != b.read()
    got = version(newer, node, str(tmp_path / "t"))
    assert got["mode"] == "helper" and got["started_helper"], got
    now = helpers(node)
    assert len(now) == 2 and set(old) < set(now), now
    assert len(set(now.values())) == 2, now   # two socket names: the build hash differs


@pytest.mark.parametrize("how", ["env", "conf"])
def test_opt_out_runs_in_process(plugin, nodes, tmp_path, how):
    node = nodes("off" + how)
    timing = str(tmp_path / "t")
    env = {}
    conf = dict(STATUS_CONF)
    if how == "env":
        env["PODNET_CNI_HELPER"] = "0"
    else:
        conf["podnet_cni_helper"] = False
    assert version(plugin, node, timing, conf=conf, **env)["mode"] == "in-process"
    assert helpers(node) == {}


def test_version_never_starts_a_helper(plugin, nodes, tmp_path):
    node = nodes("ver")
    timing = str(tmp_path / "t")
    res = call(plugin, node, {"cniVersion": "1.0.0"}, dict(cni_env("VERSION"), PODNET_CNI_TIMING_FILE=timing))
    assert res.rc == 0 and "supportedVersions" in res.json, res
    with open(timing) as handle:
        assert json.loads(handle.readline())["mode"] == "in-process"
    assert helpers(node) == {}


def _squat(node, plugin, listen, stop):
    """Hold the helper's socket name in ``node``: accept and hang up at once, or never listen."""
    with in_netns(node):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind("\0" + client.socket_name(build_hash(plugin)))
    if listen:
        sock.listen(8)
        sock.settimeout(0.1)

        def serve():
            while not stop.is_set():
                try:
                    conn, _addr = sock.accept()
                except OSError:
                    continue
                conn.close()
        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
    return sock


@pytest.mark.parametrize("listen", [True, False], ids=["refused-by-peer", "helper-cannot-start"])
def test_fallback_in_process_when_no_helper_can_serve(plugin, nodes, tmp_path, listen):
    node = nodes("fb%d" % listen)
    stop = threading.Event()
    sock = _squat(node, plugin, listen, stop)
    try:
        got = version(plugin, node, str(tmp_path / "t"), PODNET_CNI_HELPER_START_TIMEOUT="1")
    finally:
        stop.set()
        sock.close()
    assert got["mode"] == "in-process" and got.get("fallback"), got
    assert helpers(node) == {}   # the helper it started lost the bind and exited


def test_idle_helper_exits(plugin, nodes, tmp_path):
    node = nodes("idle")
    version(plugin, node, str(tmp_path / "t"), PODNET_CNI_HELPER_IDLE_TIMEOUT="1")
    pids = list(helpers(node))
    assert len(pids) == 1
    assert gone(pids[0], timeout=10), "the helper did not exit after its idle timeout"


def test_worker_killed_mid_request_gives_a_cni_error(plugin, nodes, tmp_path):
    node = nodes("kill")
    pod = nodes("killpod")
    with in_netns(node):
        hang = socket.socket(socket.AF_INET, socket.SOCK_STREAM)   # an "etcd" that never answers
        hang.bind(("127.0.0.1", 0))
        hang.listen(8)
    try:
        port = hang.getsockname()[1]
        conf = {"cniVersion": "1.0.0", "name": "k8s-pod-network", "type": "calico", "datastore_type": "etcdv3",
                "etcd_endpoints": "http://127.0.0.1:%d" % port, "nodename": "hlp-node", "mtu": 1450,
                "ipam": {"type": "calico-ipam"}, "log_file_path": str(tmp_path / "cni.log"), "log_level": "debug"}
        version(plugin, node, str(tmp_path / "t"))
        (helper,) = list(helpers(node))

        def workers():
            # the helper's children that have taken a request (a spare waiting for one is named otherwise)
            with open("/proc/%d/task/%d/children" % (helper, helper)) as handle:
                return set(int(p) for p in handle.read().split() if comm(int(p)) == "podnet-cni-work")
        before = workers()   # the first call's worker may not be reaped yet
        env = dict(cni_env("ADD", "killme0", "/run/netns/%s" % pod, "eth0", k8s_args("default", "killme", "killme0")),
                   PODNET_CNI_ETCD_TIMEOUT="60")
        proc = subprocess.Popen(["nsenter", "--net=/run/netns/%s" % node, plugin], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        proc.stdin.write(json.dumps(conf))
        proc.stdin.close()
        children = []
        deadline = time.time() + 30
        while not children and time.time() < deadline:
            children = sorted(workers() - before)
            time.sleep(0.02)
        assert children, "the helper forked no worker"
        time.sleep(0.3)   # the worker is now waiting on the silent etcd
        assert proc.poll() is None, "the ADD ended before its worker could be killed"
        os.kill(children[0], signal.SIGKILL)
        proc.wait(30)
        out = proc.stdout.read()
        proc.stdout.close()
        proc.stderr.close()
        assert proc.returncode == 1, out
        err = json.loads(out)
        assert err["code"] == 11 and "helper" in err["msg"], err
        assert helpers(node) == {helper: helpers(node)[helper]}   # the helper itself serves on
    finally:
        hang.close()


def _connect_as(node, plugin, preexec=None, wrapper=()):
    """Connect to the node's helper from another process; 'ack' or 'refused'."""
    code = ("import socket,struct,marshal,sys\n"
            "s=socket.socket(socket.AF_UNIX); s.connect('\\0'+sys.argv[1])\n"
            "d=marshal.dumps({'argv0':'calico','environ':{'CNI_COMMAND':'VERSION'},'stdin':'','cwd':'/'})\n"
            "try:\n"
            "    s.sendall(struct.pack('!I',len(d))+d); print('ack' if s.recv(1) else 'refused')\n"
            "except OSError:\n"
            "    print('refused')\n")
    proc = subprocess.run(["nsenter", "--net=/run/netns/%s" % node] + list(wrapper)
                          + ["/usr/bin/python3", "-c", code, client.socket_name(build_hash(plugin))],
                          stdout=subprocess.PIPE, text=True, preexec_fn=preexec, timeout=30, check=False)
    return proc.stdout.strip()


def test_helper_serves_only_uid_0_in_its_mount_namespace(plugin, nodes, tmp_path):
    node = nodes("peer")
    version(plugin, node, str(tmp_path / "t"))
    assert _connect_as(node, plugin) == "ack"

    assert _connect_as(node, plugin, wrapper=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")) \
        == "refused"
    assert _connect_as(node, plugin, wrapper=("unshare", "--mount", "--propagation", "private")) == "refused"


def _bytecode_path(plugin):
    """The client bytecode copy the plugin's loader looks for (named in the executable's first lines)."""
    import re
    with open(plugin) as handle:
        loader = handle.read().split("\n# podnet-cni-payload", 1)[0]
    digest = re.search(r"client-%s\.%s' % \('([0-9a-f]{16})'", loader).group(1)
    tag = subprocess.run(["/usr/bin/python3", "-c", "import sys; print(sys.implementation.cache_tag)"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    return "/run/podnet-cni/bytecode/client-%s.%s" % (digest, tag)


def test_client_bytecode_copy_is_made_once_and_used_only_when_safe(plugin, nodes, tmp_path):
    node = nodes("bc")
    timing = str(tmp_path / "timing")
    path = _bytecode_path(plugin)
    if os.path.exists(path):
        os.unlink(path)
    assert version(plugin, node, timing)["bytecode"] == "archive"   # none yet: compiled from the carried source
    st = os.stat(path)
    assert st.st_uid == 0 and oct(st.st_mode & 0o777) == "0o644", oct(st.st_mode)
    assert version(plugin, node, timing)["bytecode"] == "cache"
    os.chmod(path, 0o666)                                             # writable by others: never loaded
    assert version(plugin, node, timing)["bytecode"] == "archive"
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"              # and replaced by a good copy
    with open(path, "wb") as handle:                                  # a broken copy: the source, same answer
        handle.write(b"\xe3not bytecode")
    os.chmod(path, 0o644)
    assert version(plugin, node, timing)["bytecode"] == "archive"
    assert version(plugin, node, timing)["bytecode"] == "cache"


def test_spare_worker_connects_to_etcd_ahead_while_the_tls_files_hold(cni_node, tmp_path):
    """The worker forked ahead of a request opens the connection (TLS handshake included) to the etcd of
    the requests before it; a request uses it only when its settings and TLS files are the same, and
    works either way."""
    timing = str(tmp_path / "timing.jsonl")
    conf = cni_node.conf()
    made = []

    def add(i):
        pod = add_netns("%s-prep%d" % (TEST_PREFIX, i))
        cid = "%s-prep%d" % (TEST_PREFIX, i)
        env = dict(cni_env("ADD", cid, "/run/netns/" + pod, "eth0", k8s_args("default", "prep-%d" % i, cid)),
                   PODNET_CNI_TIMING_FILE=timing)
        made.append((pod, env))
        res = call(cni_node.calico, cni_node.name, conf, env)
        assert res.rc == 0, res
        with open(timing) as handle:
            record = json.loads(handle.readlines()[-1])
        assert record["mode"] == "helper", record
        return record

    try:
        first = [add(i) for i in range(3)]
        # the third request's worker was forked when the second was taken: the first had taught the helper
        assert first[2]["etcd_prepared"] is True, first
        cert = conf["etcd_cert_file"]
        st = os.stat(cert)
        os.utime(cert, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
        # forked before the file changed: its connection is not used, the request makes its own
        assert add(3)["etcd_prepared"] is False
        # forked after: prepared with the file as it is now
        assert add(4)["etcd_prepared"] is True
    finally:
        for pod, env in made:
            call(cni_node.calico, cni_node.name, conf, dict(env, CNI_COMMAND="DEL"))
            kill_netns(pod)
