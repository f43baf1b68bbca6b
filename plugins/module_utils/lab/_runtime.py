# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's runtime services (private to the collection): a pause image built from busybox-static,
containerd inside a node's mount and network namespaces, etcd with TLS in the ctl namespace, and a
TCP relay that lets the controller (in the host's namespace) reach that etcd on 127.0.0.1.

Plain Python, no Ansible import; commands run through the runner of _namespaces. Every process is
tracked by a pid file in the lab's state dir and stopped by its own id.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import io
import json
import os
import shutil
import signal
import socket
import tarfile
import threading
import time

from ansible_collections.podnet.calico.plugins.module_utils.lab._namespaces import (
    LabError, pid_alive, port_open, read_pid, run, write_state)

PAUSE_IMAGE = "localhost/podnet-pause:1"
BUSYBOX = "/bin/busybox"
CONTAINERD_CONFIG = "/etc/containerd/config.toml"
CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380


# ------------------------------------------------------------------ pause image
def _blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as handle:
        handle.write(data)
    return "sha256:" + digest, len(data)


def pause_image_tar(path, image=PAUSE_IMAGE, busybox=BUSYBOX):
    """Write an OCI layout tar of a busybox-static rootfs whose entrypoint never exits; return path.

    One uncompressed layer, a config with Entrypoint and diff_ids, a manifest and an index annotated
    with io.containerd.image.name, as `ctr images import` wants it (no registry needed)."""
    if not os.path.exists(busybox):
        raise LabError("the pause image needs busybox-static at %s (Debian package busybox-static)" % busybox)
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        for directory in ("bin", "proc", "sys", "dev", "etc", "tmp"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in ("sh", "sleep", "ip", "ping", "hostname"):
            info = tarfile.TarInfo("bin/" + applet)
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, "busybox", 0o777
            tar.addfile(info)
    layer_data = layer.getvalue()
    work = path + ".d"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "blobs", "sha256"))
    layer_digest, layer_size = _blob(work, layer_data)
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Entrypoint": ["/bin/sleep", "2147483647"], "WorkingDir": "/"},
              "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}
    config_digest, config_size = _blob(work, json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                           "size": config_size},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                            "size": layer_size}]}
    manifest_digest, manifest_size = _blob(work, json.dumps(manifest).encode())
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
        "size": manifest_size, "annotations": {"io.containerd.image.name": image,
                                               "org.opencontainers.image.ref.name": image.rsplit(":", 1)[-1]}}]}
    with open(os.path.join(work, "index.json"), "w") as handle:
        json.dump(index, handle)
    with open(os.path.join(work, "oci-layout"), "w") as handle:
        json.dump({"imageLayoutVersion": "1.0.0"}, handle)
    with tarfile.open(path + ".tmp", "w") as tar:
        for name in ("oci-layout", "index.json", "blobs"):
            tar.add(os.path.join(work, name), arcname=name)
    os.rename(path + ".tmp", path)
    shutil.rmtree(work)
    return path


# ------------------------------------------------------------------ cgroups in a node
def cgroup_mount_lines(mountinfo="/proc/self/mountinfo"):
    """Shell lines that mount, in a node's mount namespace, the cgroup hierarchies the host has.

    `ip netns exec` remounts /sys for the namespace, which hides the host's cgroup mounts; runc then
    fails with "no cgroup mount found in mountinfo". Mounting the same hierarchies again (same
    options) gives the node the host's cgroups, as containerd on a real node sees them."""
    lines = []
    base = False
    with open(mountinfo) as handle:
        for line in handle:
            left, _sep, right = line.partition(" - ")
            fields, rest = left.split(), right.split()
            if len(fields) < 5 or len(rest) < 3:
                continue
            point, fstype, options = fields[4], rest[0], rest[2]
            if point == "/sys/fs/cgroup" and fstype == "tmpfs":
                base = True
            elif point.startswith("/sys/fs/cgroup/") and fstype == "cgroup":
                opts = [o for o in options.split(",") if o not in ("rw", "ro")]
                if not [o for o in opts if not o.startswith("name=")]:
                    opts.insert(0, "none")
                lines.append("mkdir -p %s && mount -t cgroup -o %s cgroup %s" % (point, ",".join(opts), point))
            elif point.startswith("/sys/fs/cgroup") and fstype == "cgroup2":
                lines.append("mkdir -p %s && mount -t cgroup2 cgroup2 %s" % (point, point))
    if base:
        lines.insert(0, "mount -t tmpfs -o mode=0755 podnet-cgroup /sys/fs/cgroup")
    return lines


# ------------------------------------------------------------------ processes
def stop_pid(pid, timeout=10):
    """SIGTERM, then SIGKILL after ``timeout`` seconds, one process by its id."""
    if not pid or not pid_alive(pid):
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 3)):
        try:
            os.kill(pid, sig)
        except OSError:
            return
        deadline = time.time() + wait
        while pid_alive(pid) and time.time() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except OSError:
                pass
            time.sleep(0.05)
        if not pid_alive(pid):
            return


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().split(b"\0")
    except OSError:
        return []


def tracked_pid(pidfile, program):
    """The pid in ``pidfile`` when that process still runs ``program``, else None."""
    pid = read_pid(pidfile)
    if pid and pid_alive(pid):
        argv = _cmdline(pid)
        if argv and os.path.basename(argv[0].decode(errors="replace")) == program:
            return pid
    return None


def _spawn(argv, pidfile, log):
    """Start a daemon (its own session, stdio on ``log``) and record its pid in ``pidfile``."""
    script = 'setsid "$@" </dev/null >>%s 2>&1 & echo $!' % _quote(log)
    out = run(["sh", "-c", script, "spawn"] + list(argv)).stdout.strip()
    if not out.isdigit():
        raise LabError("could not start %s: %s" % (argv[0], out))
    with open(pidfile, "w") as handle:
        handle.write(out + "\n")
    return int(out)


def _quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


# ------------------------------------------------------------------ containerd
def node_root(sshd_pid):
    """The node's file system as the host sees it (its mount namespace's root)."""
    return "/proc/%d/root" % sshd_pid


def containerd_socket(sshd_pid):
    """containerd's gRPC socket of a node, reachable from the host's namespaces."""
    return node_root(sshd_pid) + CONTAINERD_SOCKET


def ensure_containerd(lab, node, check, pause_tar, image=PAUSE_IMAGE):
    """containerd running in the node's mount and network namespaces, on the node's current
    /etc/containerd/config.toml (restarted when that file changed), with the pause image imported."""
    sshd = lab.sshd_running(node)
    if sshd is None:
        if check:
            lab.note("start containerd of %s" % node["name"])
            return None
        raise LabError("containerd of %s needs the node's sshd (its mount namespace); bring the lab up first"
                       % node["name"])
    ndir = lab.node_dir(node)
    pidfile = os.path.join(ndir, "containerd.pid")
    sumfile = os.path.join(ndir, "containerd.config.sha256")
    config = node_root(sshd) + CONTAINERD_CONFIG
    try:
        with open(config, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
    except OSError as exc:
        raise LabError("containerd of %s: no configuration at %s in the node (%s); run lab_cluster.yml "
                       "(site.yml) first" % (node["name"], CONTAINERD_CONFIG, exc))
    try:
        with open(sumfile) as handle:
            running_digest = handle.read().strip()
    except OSError:
        running_digest = None
    pid = tracked_pid(pidfile, "containerd")
    if pid is not None and running_digest == digest:
        pass
    else:
        lab.note(("restart containerd of %s (configuration changed)" if pid else "start containerd of %s")
                 % node["name"])
        if check:
            return pid
        stop_pid(pid)
        log = os.path.join(ndir, "containerd.log")
        wrapper = 'setsid "$@" </dev/null >>%s 2>&1 & echo $!' % _quote(log)
        out = run(["nsenter", "-t", str(sshd), "-m", "-n", "-u", "--", "sh", "-c", wrapper, "spawn",
                   "containerd", "--config", CONTAINERD_CONFIG]).stdout.strip()
        if not out.isdigit():
            raise LabError("could not start containerd of %s: %s" % (node["name"], out))
        pid = int(out)
        with open(pidfile, "w") as handle:
            handle.write("%d\n" % pid)
        with open(sumfile, "w") as handle:
            handle.write(digest + "\n")
        sock = containerd_socket(sshd)
        deadline = time.time() + 60
        while not _answers(sock):
            if not pid_alive(pid) or time.time() > deadline:
                raise LabError("containerd of %s did not start; see %s" % (node["name"], log))
            time.sleep(0.1)
    if check:
        return pid
    sock = containerd_socket(sshd)
    images = run(["ctr", "-a", sock, "-n", "k8s.io", "images", "ls", "-q"]).stdout.split()
    if image not in images:
        lab.note("import the pause image into containerd of %s" % node["name"])
        run(["ctr", "-a", sock, "-n", "k8s.io", "images", "import", "--snapshotter", "native", pause_tar])
    return pid


def _answers(path):
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.connect(path)
        return True
    except OSError:
        return False
    finally:
        sock.close()


def stop_containerd(lab, node):
    pidfile = os.path.join(lab.node_dir(node), "containerd.pid")
    stop_pid(tracked_pid(pidfile, "containerd"))


# ------------------------------------------------------------------ etcd in the ctl namespace
def etcd_dir(lab):
    return os.path.join(lab.state_dir, "etcd")


def ensure_etcd(lab, check, server):
    """etcd (TLS, client-certificate auth) in the ctl namespace on the ctl address, and a relay from
    127.0.0.1 of the namespace this runs in; returns {endpoint, controller_endpoint}."""
    for key in ("cert_file", "key_file", "ca_file"):
        if not server.get(key) or not os.path.exists(server[key]):
            raise LabError("etcd_server.%s: %r does not exist" % (key, server.get(key)))
    directory = etcd_dir(lab)
    pidfile = os.path.join(directory, "etcd.pid")
    endpoint = "https://%s:%d" % (lab.ctl_ip, ETCD_CLIENT_PORT)
    pid = tracked_pid(pidfile, "etcd")
    if pid is None:
        lab.note("start etcd in %s" % lab.ctl)
        if not check:
            os.makedirs(directory, 0o700, exist_ok=True)
            peer = "http://127.0.0.1:%d" % ETCD_PEER_PORT
            argv = ["ip", "netns", "exec", lab.ctl, "etcd", "--name", "lab", "--data-dir",
                    os.path.join(directory, "data"), "--listen-client-urls", endpoint, "--advertise-client-urls",
                    endpoint, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                    "--initial-cluster", "lab=" + peer, "--cert-file", server["cert_file"],
                    "--key-file", server["key_file"], "--trusted-ca-file", server["ca_file"],
                    "--client-cert-auth", "--log-outputs", "stderr"]
            pid = _spawn(argv, pidfile, os.path.join(directory, "etcd.log"))
    relay_port = None
    relay_pidfile = os.path.join(directory, "relay.pid")
    relay = read_pid(relay_pidfile)
    if relay and pid_alive(relay) and os.path.exists(relay_pidfile + ".port"):
        with open(relay_pidfile + ".port") as handle:
            relay_port = int(handle.read().strip())
    else:
        lab.note("start the etcd relay on 127.0.0.1")
        if not check:
            relay_port = start_relay(lab.ctl, lab.ctl_ip, ETCD_CLIENT_PORT, relay_pidfile,
                                     os.path.join(directory, "relay.log"))
    if not check:
        _wait_port(lab, pid, directory)
    return {"endpoint": endpoint,
            "controller_endpoint": "https://127.0.0.1:%d" % relay_port if relay_port else None}


def _wait_port(lab, pid, directory):
    deadline = time.time() + 30
    while True:
        if port_open(lab.ctl, lab.ctl_ip, ETCD_CLIENT_PORT):
            return
        if (pid and not pid_alive(pid)) or time.time() > deadline:
            raise LabError("etcd in %s did not start; see %s/etcd.log" % (lab.ctl, directory))
        time.sleep(0.1)


def stop_etcd(lab):
    directory = etcd_dir(lab)
    stop_pid(tracked_pid(os.path.join(directory, "etcd.pid"), "etcd"))
    stop_relay(os.path.join(directory, "relay.pid"))


# ------------------------------------------------------------------ the relay
def _pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _serve(conn, address, port):
    try:
        out = socket.create_connection((address, port), timeout=10)
        out.settimeout(None)
    except OSError:
        conn.close()
        return
    thread = threading.Thread(target=_pump, args=(out, conn))
    thread.daemon = True
    thread.start()
    _pump(conn, out)
    thread.join(60)
    conn.close()
    out.close()


def relay_forever(listener, address, port):
    while True:
        conn, _peer = listener.accept()
        thread = threading.Thread(target=_serve, args=(conn, address, port))
        thread.daemon = True
        thread.start()


def start_relay(netns, address, port, pidfile, log):
    """Fork a relay daemon: it listens on 127.0.0.1 (a free port) of the current namespace, then
    enters ``netns`` and connects each client to ``address:port`` there. Returns the port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    relay_port = listener.getsockname()[1]
    target = os.open("/run/netns/%s" % netns, os.O_RDONLY)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the daemon
        try:
            os.close(read_end)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            devnull = os.open(os.devnull, os.O_RDWR)
            logfd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(devnull, 0)
            os.dup2(logfd, 1)
            os.dup2(logfd, 2)
            _setns(target)
            os.write(write_end, ("%d\n" % os.getpid()).encode())
            os.close(write_end)
            relay_forever(listener, address, port)
        finally:
            os._exit(1)
    os.close(write_end)
    os.waitpid(child, 0)
    listener.close()
    os.close(target)
    with os.fdopen(read_end) as handle:
        pid = handle.read().strip()
    if not pid.isdigit():
        raise LabError("the etcd relay did not start; see %s" % log)
    with open(pidfile, "w") as handle:
        handle.write(pid + "\n")
    with open(pidfile + ".port", "w") as handle:
        handle.write("%d\n" % relay_port)
    return relay_port


def _setns(fd):
    if hasattr(os, "setns"):
        os.setns(fd, os.CLONE_NEWNET)
        return
    import ctypes  # pylint: disable=import-outside-toplevel
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, 0x40000000) != 0:
        raise OSError(ctypes.get_errno(), "setns")


def stop_relay(pidfile):
    pid = read_pid(pidfile)
    if pid and pid_alive(pid):
        argv = _cmdline(pid)
        # our own forked daemon runs the module's interpreter: check it is a Python process
        if argv and b"python" in os.path.basename(argv[0]):
            stop_pid(pid, timeout=3)
    for path in (pidfile, pidfile + ".port"):
        try:
            os.unlink(path)
        except OSError:
            pass


# ------------------------------------------------------------------ all of it, for the lab module
def ensure_services(lab, state, check, containerd=False, etcd_server=None, pause_image=PAUSE_IMAGE):
    """Bring up what is asked for on a lab that is up; returns the lab state with the services
    recorded (``etcd``: endpoints; per node ``containerd_pid`` and ``containerd_socket``) and
    rewrites lab.json when that changed."""
    new = json.loads(json.dumps(state))
    if etcd_server:
        new["etcd"] = ensure_etcd(lab, check, etcd_server)
    if containerd:
        pause_tar = os.path.join(lab.state_dir, "pause.tar")
        if not check and not os.path.exists(pause_tar):
            lab.note("build the pause image %s" % pause_image)
            pause_image_tar(pause_tar, image=pause_image)
        by_name = dict((node["name"], node) for node in lab.nodes)
        for entry in new.get("nodes", []):
            node = by_name.get(entry.get("name"))
            if node is None:
                continue
            pid = ensure_containerd(lab, node, check, pause_tar, image=pause_image)
            sshd = lab.sshd_running(node)
            entry["containerd_pid"] = pid
            entry["containerd_socket"] = containerd_socket(sshd) if sshd else None
        new["pause_image"] = pause_image
    if not check and new != state:
        write_state(lab.state_file, new)
    return new
