# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The helper client's own parts: settings, socket name, framing, the per-container lock."""

from __future__ import annotations

import json
import marshal
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.podnet.calico.plugins.module_utils.cni import _client as client
from ansible_collections.podnet.calico.plugins.module_utils.cni import _helper as helper
from ansible_collections.podnet.calico.plugins.module_utils.cni import _runner as runner


@pytest.mark.parametrize("environ,conf,expected", [
    ({}, {}, (True, 300.0)),
    ({}, {"podnet_cni_helper": False}, (False, 300.0)),
    ({}, {"podnet_cni_helper": "false"}, (False, 300.0)),
    ({"PODNET_CNI_HELPER": "0"}, {}, (False, 300.0)),
    ({"PODNET_CNI_HELPER": "1"}, {"podnet_cni_helper": False}, (True, 300.0)),
    ({}, {"podnet_cni_helper_idle_timeout": 2}, (True, 2.0)),
    ({"PODNET_CNI_HELPER_IDLE_TIMEOUT": "7"}, {"podnet_cni_helper_idle_timeout": 2}, (True, 7.0)),
    ({}, {"podnet_cni_helper_idle_timeout": 0}, (False, 0.0)),
    ({}, {"podnet_cni_helper_idle_timeout": "x"}, (True, 300.0)),
])
def test_settings(environ, conf, expected):
    use, idle, _log = runner.settings(environ, json.dumps(conf))
    assert (use, idle) == expected


def test_settings_survive_bad_stdin():
    assert runner.settings({}, "not json")[:2] == (True, 300.0)
    assert runner.settings({}, "[1]")[:2] == (True, 300.0)
    assert runner.settings({}, json.dumps({"log_file_path": "/x/cni.log"}))[2] == "/x/cni.log"


def test_socket_name_carries_namespaces_and_build_hash():
    name = client.socket_name("0123456789abcdef")
    parts = name.split("/")
    assert parts == ["podnet-cni", client.ns_id("mnt"), client.ns_id("uts"), "0123456789abcdef"]
    assert len(name) < 107   # fits sun_path with the leading NUL


def test_no_helper_without_an_executable():
    """From a source tree (no loader with an archive and a build hash) every call runs in-process."""
    assert client.archive_path() is None


def test_framing_round_trip():
    left, right = socket.socketpair()
    try:
        payload = {"environ": {"CNI_COMMAND": "ADD"}, "stdin": "{\"a\": \"\u00e9\udcff\"}" * 1000}
        client.send_msg(left, payload)
        assert client.recv_msg(right) == payload
        left.close()
        with pytest.raises(EOFError):
            client.recv_msg(right)
    finally:
        right.close()


def test_framing_is_a_length_and_marshal_data():
    message = {"taken": 1234}
    data = client.frame(message)
    assert data == len(marshal.dumps(message)).to_bytes(4, "big") + marshal.dumps(message)
    assert client.unframe(data + b"\0\0") == (message, b"\0\0")
    for cut in range(len(data)):   # no complete frame yet: nothing taken
        assert client.unframe(data[:cut]) == (None, data[:cut])


@pytest.mark.parametrize("body", [marshal.dumps([1, 2]), b"\xff not marshal"])
def test_a_frame_that_holds_no_dict_is_refused_with_what_follows(body):
    bad = len(body).to_bytes(4, "big") + body
    with pytest.raises(client.FrameError) as info:
        client.unframe(bad + b"next")
    assert isinstance(info.value, ValueError) and info.value.rest == b"next"
    left, right = socket.socketpair()
    try:
        left.sendall(bad)
        with pytest.raises(ValueError):
            client.recv_msg(right)
        left.sendall(client.frame({"a": 1}) + b"more")   # nothing may follow the message on the socket
        with pytest.raises(ValueError):
            client.recv_msg(right)
    finally:
        left.close()
        right.close()


def test_framing_over_a_socket_in_pieces():
    left, right = socket.socketpair()
    try:
        data = client.frame({"stdin": "x" * 200000})
        done = []
        reader = threading.Thread(target=lambda: done.append(client.recv_msg(right)))
        reader.start()
        for start in range(0, len(data), 7001):
            left.sendall(data[start:start + 7001])
            time.sleep(0.001)
        reader.join(10)
        assert done == [{"stdin": "x" * 200000}]
    finally:
        left.close()
        right.close()


def test_helper_pipe_uses_the_same_framing():
    r, w = os.pipe()
    try:
        helper.notify(w, {"taken": 7})
        helper.notify(w, {"hints": {"x": "y" * helper.PIPE_MESSAGE_MAX}})   # too big for one atomic write: dropped
        helper.notify(None, {"taken": 8})
        helper.notify(w, {"hints": {"etcd": "a"}})
        data = os.read(r, 1 << 16)
    finally:
        os.close(r)
        os.close(w)
    assert data == client.frame({"taken": 7}) + client.frame({"hints": {"etcd": "a"}})
    bad = marshal.dumps("no dict")
    assert helper._messages(data[:9]) == ([], data[:9])
    assert helper._messages(data + len(bad).to_bytes(4, "big") + bad + data[:3]) \
        == ([{"taken": 7}, {"hints": {"etcd": "a"}}], data[:3])


def test_helper_is_asked_only_for_heavy_commands_and_without_opt_out():
    stdin = json.dumps({"cniVersion": "1.0.0"})
    assert client._wants_helper({"CNI_COMMAND": "ADD"}, stdin) == (os.geteuid() == 0)
    assert not client._wants_helper({"CNI_COMMAND": "VERSION"}, stdin)
    assert not client._wants_helper({"CNI_COMMAND": "ADD", "PODNET_CNI_HELPER": "off"}, stdin)
    assert not client._wants_helper({"CNI_COMMAND": "DEL"}, json.dumps({"podnet_cni_helper": False}))


def test_lock_is_only_for_container_commands(tmp_path):
    env = {"CNI_COMMAND": "VERSION", "CNI_CONTAINERID": "abc", "PODNET_CNI_LOCK_DIR": str(tmp_path)}
    assert runner.ContainerLock(env).path is None
    assert runner.ContainerLock(dict(env, CNI_COMMAND="ADD", CNI_CONTAINERID="")).path is None
    lock = runner.ContainerLock(dict(env, CNI_COMMAND="ADD"), "/opt/cni/bin/calico-ipam")
    assert lock.path == str(tmp_path / "abc.calico-ipam")
    odd = runner.ContainerLock(dict(env, CNI_COMMAND="DEL", CNI_CONTAINERID="../x"))
    assert os.path.dirname(odd.path) == str(tmp_path) and os.path.basename(odd.path).startswith("sha256-")


HOLDER = """
import sys, time
sys.path[:0] = %r
from ansible_collections.podnet.calico.plugins.module_utils.cni import _client as client
from ansible_collections.podnet.calico.plugins.module_utils.cni import _runner as runner
env = {"CNI_COMMAND": sys.argv[1], "CNI_CONTAINERID": "c1", "PODNET_CNI_LOCK_DIR": sys.argv[2]}
with runner.ContainerLock(env):
    print("locked", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def test_lock_serialises_processes_and_del_removes_the_file(tmp_path):
    code = HOLDER % (sys.path,)
    first = subprocess.Popen([sys.executable, "-c", code, "ADD", str(tmp_path), "1.0"], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert first.stdout.readline().strip() == "locked"
        start = time.monotonic()
        env = {"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c1", "PODNET_CNI_LOCK_DIR": str(tmp_path)}
        with runner.ContainerLock(env):
            waited = time.monotonic() - start
            assert os.path.exists(tmp_path / "c1.calico")
        assert waited > 0.5, "DEL did not wait for the running ADD"
        assert not os.path.exists(tmp_path / "c1.calico")   # DEL removes the lock file
    finally:
        first.wait(10)
        first.stdout.close()


def _builder():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))))))
    sys.path.insert(0, os.path.join(root, "roles", "cni_plugins", "files"))
    import podnet_cni_build
    return root, podnet_cni_build


@pytest.mark.parametrize("pyc", [False, True])
def test_executable_is_a_plain_script_carrying_the_modules(tmp_path, pyc):
    """The built file is no zip, carries every module of plugins/module_utils, and answers VERSION from them."""
    import zipfile
    root, builder = _builder()
    out = builder.build(root, str(tmp_path / "calico"), sys.executable, pyc=pyc)
    assert not zipfile.is_zipfile(out)
    carried = builder.carried(out)
    sources = set()
    for directory, _subdirs, names in os.walk(os.path.join(root, "plugins", "module_utils")):
        sources.update(os.path.relpath(os.path.join(directory, n), root) for n in names if n.endswith(".py"))
    assert sources and all("ansible_collections/podnet/calico/" + s in carried for s in sources)
    assert any(name.endswith(".pyc") for name in carried) is pyc
    res = subprocess.run([out], input="", env={"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    assert res.returncode == 0 and "1.1.0" in json.loads(res.stdout)["supportedVersions"], res
    again = builder.build(root, str(tmp_path / "calico2"), sys.executable, pyc=pyc)
    with open(out, "rb") as one, open(again, "rb") as two:
        assert one.read() == two.read()   # reproducible: an unchanged source is a byte-identical file


#: runs a built executable for VERSION and prints, when it exits, its client's build hash and helper socket name
PROBE = """
import os, sys
path = sys.argv[1]
exit = os._exit
NAME = 'ansible_collections.podnet.calico.plugins.module_utils.cni._client'


def report(status):
    client = sys.modules[NAME]
    sys.stdout.write('\\n' + client.build_hash() + ' ' + client.socket_name(client.build_hash()) + '\\n')
    sys.stdout.flush()
    exit(status)


os._exit = report
sys.argv = [path]
with open(path) as handle:
    code = compile(handle.read(), path, 'exec')
exec(code, {'__name__': '__main__', '__file__': path})
"""


def test_build_hash_covers_the_whole_file_but_itself(tmp_path):
    """The builder writes the build hash into the loader; the client reads it from there, not from the file."""
    root, builder = _builder()
    out = builder.build(root, str(tmp_path / "calico"), sys.executable)
    written = builder.build_hash(out)
    assert len(written) == 16 and int(written, 16) >= 0 and written != builder.HASH_PLACEHOLDER
    assert written == builder.computed_hash(out)
    with open(out, "rb") as handle:
        data = handle.read()
    assert data.count(written.encode()) == 1
    import hashlib
    assert hashlib.sha256(data.replace(written.encode(), b"0" * 16)).hexdigest()[:16] == written
    # it covers the interpreter line and the compiled code (as it covers every byte but its own 16)
    others = [builder.build(root, str(tmp_path / "other"), "/usr/bin/python3"),
              builder.build(root, str(tmp_path / "pyc"), sys.executable, pyc=True)]
    assert len({written} | {builder.build_hash(o) for o in others}) == 3
    res = subprocess.run([sys.executable, "-c", PROBE, out], input="", env={"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    assert res.returncode == 0, res
    loaded, name = res.stdout.splitlines()[-1].split(" ")
    assert loaded == written and name == client.socket_name(written)


def test_executable_prefers_its_own_modules_over_a_copy_on_the_path(tmp_path):
    """A copy of the collection on sys.path (site-packages on a node) never replaces the carried modules."""
    root, builder = _builder()
    out = builder.build(root, str(tmp_path / "calico"), "/usr/bin/env python3")
    shadow = tmp_path / "shadow" / "ansible_collections" / "podnet" / "calico" / "plugins" / "module_utils" / "cni"
    shadow.mkdir(parents=True)
    (shadow / "_main.py").write_text("raise SystemExit('the copy on the path was imported')\n")
    # no -I in the first line: PYTHONPATH is read, and the copy is on the path
    res = subprocess.run([out], input="", env={"CNI_COMMAND": "VERSION", "PATH": os.path.dirname(sys.executable)
                                               + ":/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "shadow")},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    assert res.returncode == 0 and "supportedVersions" in res.stdout, res
