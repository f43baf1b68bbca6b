# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The CNI commands of the ``calico`` and ``calico-ipam`` plugins (private to podnet.calico).

ADD assigns an address to the handle ``<network name>.<container id>`` (attributes namespace, pod,
node), builds the pod's data plane with the engines of calico_veth, proxy_arp and calico_route, and
writes the pod's WorkloadEndpoint; each step records its undo, and a failing step undoes them all,
so a failed ADD leaves no veth, route, address or handle behind. DEL removes what ADD made and
succeeds when it is already gone. Heavy imports (pyroute2, the etcd store) happen only in the commands
that need them.
"""

import json
import os
import subprocess
import threading
import time

from ansible_collections.podnet.calico.plugins.module_utils.cni import _spec as spec
from ansible_collections.podnet.calico.plugins.module_utils.cni._spec import CNIError
from ansible_collections.podnet.calico.plugins.module_utils.cni import _wep as wep
from ansible_collections.podnet.calico.plugins.module_utils.ipam import _model as ipam_model
from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import (
    ConflictError, ReadAhead, StoreError, StoreUnavailableError,
)

POD_GATEWAY = '169.254.1.1'
#: The datastore options of the IPAM stores, by the Calico config field that sets them.
_STORE_FIELDS = {'etcd_ca_cert': 'etcd_ca_cert_file', 'etcd_cert': 'etcd_cert_file', 'etcd_key': 'etcd_key_file',
                 'etcd_endpoints': 'etcd_endpoints'}
KUBERNETES_DATASTORE_MSG = ('datastore_type kubernetes needs the Kubernetes API server (kubernetes.kubeconfig=%s), '
                            'which this plugin does not talk to; use datastore_type etcdv3 with etcd_endpoints, or '
                            "Calico's own plugin binaries (cni_plugins_calico_impl: upstream)")


#: What the node's resident helper learnt from earlier requests and what it prepared for this one
#: (set by _helper in a spare worker before it takes a request; empty when the plugin runs in-process):
#: ``etcd``, the datastore settings of the last request; ``block``, (node, key) of the last block assigned
#: from; ``store``, an EtcdStore already connected with the ``etcd`` settings (see prepare_store).
HINTS = {}
#: What this request learnt, for the helper's next spare workers (same keys as HINTS, without ``store``).
LEARNT = {}


def _file_stamps(paths):
    """(device, inode, size, mtime) of each file: a prepared TLS context is used only while they hold."""
    stamps = []
    for path in paths:
        if path is None:
            stamps.append(None)
            continue
        st = os.stat(path)
        stamps.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(stamps)


def prepare_store(settings):
    """An EtcdStore for ``settings`` (as Plugin.store_settings gives them), connected to its first endpoint.

    A spare worker of the resident helper calls this while it waits for a request, so that the TLS
    handshake with etcd is off the request's path. Returns (settings, file stamps, store).
    """
    from ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd import EtcdStore
    stamps = _file_stamps((settings['ca_cert'], settings['cert'], settings['key']))
    store = EtcdStore(**settings)
    try:
        store.connect()
    except Exception:
        store.close()
        raise
    return settings, stamps, store


def take_prepared_store(settings):
    """The prepared store when it was made for exactly these settings and files and is still connected."""
    prepared = HINTS.pop('store', None)
    if prepared is None:
        return None
    made_for, stamps, store = prepared
    try:
        if made_for == settings and _file_stamps((settings['ca_cert'], settings['cert'], settings['key'])) == stamps \
                and store.connected():
            HINTS['used_store'] = True
            return store
    except OSError:
        pass
    store.close()
    return None


def store_error(exc, what):
    """A datastore failure as a CNI error; an unreachable etcd is worth retrying."""
    if isinstance(exc, StoreUnavailableError):
        return CNIError(spec.TRY_AGAIN_LATER, '%s: %s' % (what, exc))
    option = getattr(exc, 'option', None)
    field = _STORE_FIELDS.get(option)
    text = str(exc)
    for ours, theirs in _STORE_FIELDS.items():
        text = text.replace(ours + '=', theirs + '=')
    about_files = any(t in text for t in ('no such file', 'not readable', 'not a usable', 'must be given together'))
    if field and field != 'etcd_endpoints' and about_files:
        return CNIError(spec.INVALID_CONFIG, 'invalid network config: %s: %s' % (what, text))
    return CNIError(spec.IO_FAILURE, '%s: %s' % (what, text))


class Background(object):
    """``func(*args)`` in a thread of its own (for a datastore write that waits on the network); ``wait``."""

    def __init__(self, func, *args):
        self.error = None
        self._thread = threading.Thread(target=self._run, args=(func, args))
        self._thread.daemon = True
        self._thread.start()

    def _run(self, func, args):
        try:
            func(*args)
        except BaseException as exc:  # pylint: disable=broad-except
            self.error = exc

    def wait(self):
        """Wait for it; True when it succeeded (its error, if any, is kept in ``error``)."""
        self._thread.join()
        return self.error is None


class Plugin(object):
    """One invocation: ``conf`` (NetConf, parsed), ``env`` (Env), ``log`` (Log)."""

    def __init__(self, conf, env, log, ipam_only=False, self_path=None):
        self.conf = conf
        self.env = env
        self.log = log
        self.ipam_only = ipam_only
        self.self_path = self_path
        self._store = None
        self._allocator = None

    # ------------------------------------------------------------------ identities
    @property
    def handle(self):
        return '%s.%s' % (self.conf.name, self.env.container_id)

    @property
    def node(self):
        if not hasattr(self, '_node'):
            self._node = self.conf.node()
        return self._node

    @property
    def is_k8s(self):
        return bool(self.env.k8s_namespace and self.env.k8s_pod)

    def host_ifname(self):
        """Calico's name: from "<namespace>.<pod>" for Kubernetes pods, else from the container id."""
        from ansible_collections.podnet.calico.plugins.module_utils.cni import _engine as engine
        if self.is_k8s:
            return engine.host_ifname(engine.workload_id(self.env.k8s_namespace, self.env.k8s_pod))
        return ('cali' + self.env.container_id)[:15]

    def wep_ids(self):
        """(namespace, name) of the pod's WorkloadEndpoint."""
        if self.is_k8s:
            return self.env.k8s_namespace, wep.wep_name(self.node, 'k8s', self.env.k8s_pod, self.env.ifname)
        return 'default', wep.wep_name(self.node, 'cni', self.env.container_id, self.env.ifname)

    # ------------------------------------------------------------------ datastore
    def require_etcd(self):
        if self.conf.datastore_type == 'kubernetes':
            raise CNIError(spec.INVALID_CONFIG, KUBERNETES_DATASTORE_MSG % (self.conf.kubeconfig,))

    def store_settings(self):
        """The EtcdStore arguments of this request (also the key of a prepared store)."""
        return {'endpoints': list(self.conf.etcd_endpoints), 'ca_cert': self.conf.etcd_ca_cert_file,
                'cert': self.conf.etcd_cert_file, 'key': self.conf.etcd_key_file,
                'timeout': float(os.environ.get('PODNET_CNI_ETCD_TIMEOUT', '5')), 'api_path': '/v3/'}

    @property
    def store(self):
        if self._store is None:
            self.require_etcd()
            from ansible_collections.podnet.calico.plugins.module_utils.ipam._etcd import EtcdStore
            settings = self.store_settings()
            store = take_prepared_store(settings)
            if store is None:
                try:
                    store = EtcdStore(**settings)
                except StoreError as exc:
                    raise store_error(exc, 'opening the etcd datastore')
            LEARNT['etcd'] = settings
            self._store = store
        return self._store

    @property
    def allocator(self):
        if self._allocator is None:
            from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
            self._allocator = Allocator(self.store)
        return self._allocator

    def close(self):
        if self._store is not None:
            try:
                self._store.close()
            except Exception:  # pylint: disable=broad-except
                pass

    # ------------------------------------------------------------------ IPAM
    def _pools(self):
        """The enabled pools to assign from, in the order Calico would try them."""
        try:
            pools = [p for p in self.allocator.pools() if not p['disabled']]
        except StoreError as exc:
            raise store_error(exc, 'reading the IP pools')
        if self.conf.ipv4_pools:
            chosen = []
            for want in self.conf.ipv4_pools:
                hit = [p for p in pools if p['cidr'] == want or p['name'] == want]
                if not hit:
                    raise CNIError(spec.INVALID_CONFIG, 'invalid network config: ipam.ipv4_pools: %s is not an enabled '
                                                        'IP pool in the datastore (pools: %s)'
                                   % (want, ', '.join(p['cidr'] for p in pools) or 'none'))
                chosen.extend(hit)
            return chosen
        if not pools:
            raise CNIError(spec.IPAM_FAILURE, 'no enabled IP pool in the datastore: create one (calico_ipam '
                                              'state=present, or the Calico manifest CALICO_IPV4POOL_CIDR)')
        return sorted(pools, key=lambda p: p['cidr'])

    def ipam_assign(self):
        """Assign (or find) the handle's address; returns (ip, changed)."""
        if self._allocator is None:
            from ansible_collections.podnet.calico.plugins.module_utils.ipam._allocator import Allocator
            # what an assignment reads first (pools, the handle, the node's affinities, the IPAM config,
            # and the block this node assigned from last time, when the helper knows it) in one round trip
            keys = [ipam_model.handle_key(self.handle), ipam_model.CONFIG_KEY]
            last_block = HINTS.get('block')
            if last_block and last_block[0] == self.node:
                keys.append(last_block[1])
            self._allocator = Allocator(ReadAhead(
                self.store, keys=keys,
                prefixes=[(ipam_model.POOL_PREFIX, False), (ipam_model.affinity_prefix(self.node), True)]))
        attributes = {'node': self.node, 'timestamp': time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())}
        if self.env.k8s_namespace:
            attributes['namespace'] = self.env.k8s_namespace
        if self.env.k8s_pod:
            attributes['pod'] = self.env.k8s_pod
        last = None
        for pool in self._pools():
            try:
                got = self.allocator.assign(self.handle, self.node, pool['cidr'], attributes=attributes)
            except ipam_model.PoolExhaustedError as exc:
                last = exc
                continue
            except ipam_model.IPAMError as exc:
                raise CNIError(spec.IPAM_FAILURE, 'assigning an address to handle %s: %s' % (self.handle, exc))
            except StoreError as exc:
                raise store_error(exc, 'assigning an address to handle %s' % self.handle)
            self.log.info('IPAM: %s handle %s -> %s (block %s)', 'assigned' if got['changed'] else 'found',
                          self.handle, got['ip'], got['block'])
            LEARNT['block'] = (self.node, ipam_model.block_key(got['block']))
            return got['ip'], got['changed']
        raise CNIError(spec.IPAM_FAILURE, 'no address for handle %s: %s' % (self.handle, last))

    def ipam_release(self):
        try:
            got = self.allocator.release(self.handle)
        except ipam_model.IPAMError as exc:
            raise CNIError(spec.IPAM_FAILURE, 'releasing handle %s: %s' % (self.handle, exc))
        except StoreError as exc:
            raise store_error(exc, 'releasing handle %s' % self.handle)
        if got['changed']:
            self.log.info('IPAM: released handle %s (%s)', self.handle, ', '.join(got['ips']) or 'no address')
        return got

    def ipam_lookup(self):
        try:
            return [ip for ip, _block in self.allocator.lookup(self.handle)]
        except StoreError as exc:
            raise store_error(exc, 'reading handle %s' % self.handle)

    # ------------------------------------------------------------------ delegated IPAM
    def ipam_in_process(self):
        """calico-ipam done here rather than exec'd: when it is this very program (or not in CNI_PATH).

        Calico's plugin execs calico-ipam; when that file is ours (the link to this executable) the
        second process would run the same code on the same datastore, so the result is identical.
        A calico-ipam in CNI_PATH that is another program (Calico's binary) is exec'd as Calico does.
        """
        if self.conf.ipam_type != 'calico-ipam':
            return False
        for directory in self.env.path.split(':'):
            path = os.path.join(directory, 'calico-ipam')
            if directory and os.path.isfile(path) and os.access(path, os.X_OK):
                try:
                    return bool(self.self_path) and os.path.samefile(path, self.self_path)
                except OSError:
                    return False
        return True

    def _exec_ipam(self, command):
        """Run another IPAM plugin (ipam.type) from CNI_PATH the way a runtime would."""
        for directory in self.env.path.split(':'):
            path = os.path.join(directory, self.conf.ipam_type)
            if directory and os.path.isfile(path) and os.access(path, os.X_OK):
                break
        else:
            raise CNIError(spec.INVALID_CONFIG, 'invalid network config: ipam.type=%r: no such plugin in CNI_PATH=%s'
                           % (self.conf.ipam_type, self.env.path))
        env = dict(os.environ, CNI_COMMAND=command)
        # a CNI plugin runs its IPAM plugin as a child, as the runtime runs it (there is no AnsibleModule here)
        proc = subprocess.run([path], input=json.dumps(self.conf.raw).encode(), env=env,  # pylint: disable=ansible-bad-function
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        try:
            out = json.loads(proc.stdout.decode() or '{}')
        except ValueError:
            out = {}
        if proc.returncode != 0:
            raise CNIError(out.get('code') or spec.IPAM_FAILURE, 'IPAM plugin %s (%s): %s'
                           % (self.conf.ipam_type, command, out.get('msg') or proc.stderr.decode()[-300:]))
        return out

    # ------------------------------------------------------------------ commands
    def run(self):
        command = self.env.command
        self.conf.check_version(command)
        if command == 'VERSION':
            return spec.version_result(self.conf.cni_version)
        self.conf.parse()
        self.log.level = self.conf.log_level
        self.log.path = self.conf.log_file_path or None
        self.log.info('%s netns=%s ifname=%s args=%s', command, self.env.netns, self.env.ifname,
                      ';'.join('%s=%s' % kv for kv in sorted(self.env.args.items())))
        handler = getattr(self, ('ipam_' if self.ipam_only else 'cmd_') + command.lower())
        return handler()

    # -- calico-ipam ----------------------------------------------------------------------------
    def ipam_add(self):
        ip, _changed = self.ipam_assign()
        return {'cniVersion': self.conf.cni_version,
                'ips': [spec.ip_entry(self.conf.cni_version, '%s/32' % ip)], 'routes': [], 'dns': {}}

    def ipam_del(self):
        if self.conf.datastore_type == 'kubernetes':
            self.log.warning('DEL: datastore_type kubernetes: nothing of ours to release')
            return None
        self.ipam_release()
        return None

    def ipam_check(self):
        if not self.ipam_lookup():
            raise CNIError(spec.CHECK_FAILED, 'CHECK: handle %s holds no address' % self.handle)
        return None

    def ipam_gc(self):
        return self.cmd_gc(dataplane=False)

    def ipam_status(self):
        return self.cmd_status()

    # -- calico ---------------------------------------------------------------------------------
    def cmd_add(self):
        from ansible_collections.podnet.calico.plugins.module_utils.cni import _engine as engine
        self.require_etcd()
        undo = []
        try:
            return self._add(engine, undo)
        except BaseException as exc:
            problems = []
            for what, func in reversed(undo):
                try:
                    func()
                except Exception as undo_exc:  # pylint: disable=broad-except
                    problems.append('%s: %s' % (what, undo_exc))
            if undo:
                self.log.error('ADD failed (%s); undone: %s%s', exc, ', '.join(w for w, _f in reversed(undo)),
                               ('; could not undo: ' + '; '.join(problems)) if problems else '')
            if isinstance(exc, CNIError) and problems:
                exc.msg += '; undoing the ADD also failed: ' + '; '.join(problems)
                exc.args = (exc.msg,)
            raise

    def _add(self, engine, undo):
        conf, env = self.conf, self.env
        netns = env.netns
        if not os.path.exists(netns):
            raise CNIError(spec.UNKNOWN_CONTAINER, 'CNI_NETNS=%s: no such network namespace' % netns)
        host_ifname = self.host_ifname()
        # 1. the address
        if self.ipam_in_process():
            ip, changed = self.ipam_assign()
            if changed:
                undo.append(('release handle %s' % self.handle, self.ipam_release))
        else:
            got = self._exec_ipam('ADD')
            undo.append(('delegated IPAM DEL', lambda: self._exec_ipam('DEL')))
            try:
                ip = got['ips'][0]['address'].split('/')[0]
            except (KeyError, IndexError, TypeError):
                raise CNIError(spec.IPAM_FAILURE, 'IPAM plugin %s gave no address: %r' % (conf.ipam_type, got))
        cidr = '%s/32' % ip
        cache = engine.NamespaceCache()
        wep_write = None
        try:
            try:
                # 2. the veth pair (calico_veth), eth0 with the pod's /32
                pairs = engine.veth(cache, 'merged', [{
                    'host_ifname': host_ifname, 'container_netns': netns, 'container_ifname': env.ifname,
                    'mtu': conf.mtu, 'addresses': [cidr]}])
                undo.append(('remove veth %s' % host_ifname,
                             lambda: self._remove_veth(engine, host_ifname)))
                pair = pairs['pairs'][0]
                # 6. the WorkloadEndpoint, written once its interface exists: its round trip to etcd runs in
                # a thread while steps 3 to 5 (netlink and sysctls, no datastore) run here
                wep_write = Background(self._write_wep, host_ifname, cidr)
                # 3. proxy-ARP and forwarding on the host end (proxy_arp)
                engine.proxy_arp(cache, [{'interface': host_ifname}])
                # 4. the pod's gateway and default route (calico_route in the pod)
                engine.routes(cache, 'merged', [
                    {'dst': '%s/32' % POD_GATEWAY, 'dev': env.ifname, 'scope': 'link'},
                    {'dst': '0.0.0.0/0', 'via': POD_GATEWAY, 'dev': env.ifname}], netns=netns)
                # 5. the /32 workload route on the node (calico_route)
                engine.routes(cache, 'merged', [{'dst': cidr, 'dev': host_ifname, 'scope': 'link'}])
            except engine.DataplaneError as exc:
                code = spec.UNKNOWN_CONTAINER if 'does not exist' in str(exc) else spec.DATAPLANE_FAILURE
                raise CNIError(code, 'wiring the pod (%s): %s' % (host_ifname, exc))
        finally:
            cache.close()
            if wep_write is not None and wep_write.wait():
                # written (whatever happened here meanwhile): a failure undoes it with the rest
                undo.append(('delete WorkloadEndpoint of %s' % host_ifname, lambda: self._delete_wep(only_ours=True)))
        if wep_write is not None and wep_write.error is not None:
            raise wep_write.error
        self.log.info('wired %s <-> %s in %s with %s', host_ifname, env.ifname, netns, cidr)
        result = {
            'cniVersion': conf.cni_version,
            'interfaces': [{'name': host_ifname, 'mac': pair.get('host_mac') or engine.HOST_MAC},
                           {'name': env.ifname, 'mac': pair.get('container_mac'), 'sandbox': netns}],
            'ips': [spec.ip_entry(conf.cni_version, cidr, interface=1)],
            'routes': [{'dst': '0.0.0.0/0'}],
            'dns': {},
        }
        return result

    def _write_wep(self, host_ifname, cidr):
        namespace, name = self.wep_ids()
        key = wep.wep_key(namespace, name)
        record = wep.new_wep(namespace, name, self.node, 'k8s' if self.is_k8s else 'cni', self.env.k8s_pod,
                             self.env.container_id, self.env.ifname, host_ifname, 'ee:ee:ee:ee:ee:ee', [cidr],
                             self.conf.name)
        try:
            # a new pod's record is created in one round trip; when one exists (an ADD again) the
            # failed create returns it, and it is rewritten keeping its uid
            try:
                self.store.create(key, wep.dumps(record))
            except ConflictError as exc:
                current = (exc.current or {}).get(key) if exc.current is not None else self.store.get(key)
                if current is None:
                    raise
                try:
                    old = json.loads(current[0])
                except ValueError:
                    old = {}
                record['metadata']['uid'] = (old.get('metadata') or {}).get('uid') or record['metadata']['uid']
                self.store.put(key, wep.dumps(record), current[1])
        except ConflictError as exc:
            raise CNIError(spec.TRY_AGAIN_LATER, 'writing WorkloadEndpoint %s: another writer changed it: %s'
                           % (key, exc))
        except StoreError as exc:
            raise store_error(exc, 'writing WorkloadEndpoint %s' % key)
        self.log.info('WorkloadEndpoint %s written', key)

    def _read_wep(self):
        namespace, name = self.wep_ids()
        key = wep.wep_key(namespace, name)
        got = self.store.get(key)
        if got is None:
            return key, None, None
        try:
            return key, json.loads(got[0]), got[1]
        except ValueError:
            return key, {}, got[1]

    def _delete_wep(self, only_ours=True):
        key, record, revision = self._read_wep()
        if record is None:
            return False
        owner = ((record or {}).get('spec') or {}).get('containerID')
        if only_ours and owner and owner != self.env.container_id:
            self.log.info('WorkloadEndpoint %s belongs to container %s, left alone', key, owner)
            return False
        try:
            self.store.delete(key, revision)
        except ConflictError:
            return False
        self.log.info('WorkloadEndpoint %s deleted', key)
        return True

    @staticmethod
    def _remove_veth(engine, host_ifname):
        cache = engine.NamespaceCache()
        try:
            engine.veth(cache, 'deleted', [{'host_ifname': host_ifname}])
        finally:
            cache.close()

    def cmd_del(self):
        from ansible_collections.podnet.calico.plugins.module_utils.cni import _engine as engine
        host_ifname = self.host_ifname()
        if self.conf.datastore_type == 'kubernetes':
            self._remove_veth(engine, host_ifname)
            self.log.warning('DEL with datastore_type kubernetes: removed %s if it was there; no datastore '
                             'record of ours can exist', host_ifname)
            return None
        try:
            key, record, _rev = self._read_wep()
        except StoreError as exc:
            raise store_error(exc, 'reading the WorkloadEndpoint')
        owner = ((record or {}).get('spec') or {}).get('containerID')
        if owner and owner != self.env.container_id:
            # the pod's name now belongs to a newer sandbox: its veth is not ours to remove
            self.log.info('DEL: %s belongs to container %s, keeping %s', key, owner, host_ifname)
        else:
            try:
                self._remove_veth(engine, host_ifname)
            except engine.DataplaneError as exc:
                raise CNIError(spec.DATAPLANE_FAILURE, 'removing %s: %s' % (host_ifname, exc))
        if self.ipam_in_process():
            self.ipam_release()
        else:
            self._exec_ipam('DEL')
        try:
            self._delete_wep(only_ours=True)
        except StoreError as exc:
            raise store_error(exc, 'deleting the WorkloadEndpoint')
        self.log.info('DEL done')
        return None

    def cmd_check(self):
        from ansible_collections.podnet.calico.plugins.module_utils.cni import _engine as engine
        self.require_etcd()
        prev = self.conf.prev_result
        if not isinstance(prev, dict):
            raise CNIError(spec.INVALID_CONFIG, 'invalid network config: prevResult is required for CHECK')
        want = sorted(str(e.get('address')) for e in prev.get('ips') or [] if isinstance(e, dict))
        if not want:
            raise CNIError(spec.INVALID_CONFIG, 'invalid network config: prevResult has no ips')
        host_ifname = self.host_ifname()
        problems = []
        cache = engine.NamespaceCache()
        try:
            pairs = engine.veth(cache, 'gathered', [{'host_ifname': host_ifname, 'container_netns': self.env.netns,
                                                     'container_ifname': self.env.ifname}])['pairs']
            pair = pairs[0] if pairs else None
            if pair is None:
                problems.append('host interface %s is missing' % host_ifname)
            elif not pair.get('container_ifindex') or pair.get('container_ifname') != self.env.ifname:
                problems.append('%s is not paired with %s in %s' % (host_ifname, self.env.ifname, self.env.netns))
            else:
                if sorted(pair['addresses']) != want:
                    problems.append('%s in the pod has %s, prevResult says %s'
                                    % (self.env.ifname, ', '.join(pair['addresses']) or 'no address', ', '.join(want)))
                if pair.get('mtu') != self.conf.mtu:
                    problems.append('MTU of %s is %s, the config says %s' % (host_ifname, pair.get('mtu'), self.conf.mtu))
                if not pair.get('host_up') or not pair.get('container_up'):
                    problems.append('the veth pair is not up on both ends')
                if pair.get('host_mac') != engine.HOST_MAC:
                    problems.append('%s has MAC %s, Calico uses %s' % (host_ifname, pair.get('host_mac'),
                                                                       engine.HOST_MAC))
                pod_routes = engine.routes(cache, 'gathered', [], netns=self.env.netns)['routes']
                have = set((r['dst'], r.get('via'), r.get('dev')) for r in pod_routes)
                for route in (('%s/32' % POD_GATEWAY, None, self.env.ifname),
                              ('0.0.0.0/0', POD_GATEWAY, self.env.ifname)):
                    if route not in have:
                        problems.append('route %s%s dev %s is missing in the pod'
                                        % (route[0], (' via ' + route[1]) if route[1] else '', route[2]))
                node_routes = engine.routes(cache, 'gathered', [])['routes']
                have = set((r['dst'], r.get('dev')) for r in node_routes)
                for cidr in want:
                    if (cidr, host_ifname) not in have:
                        problems.append('route %s dev %s is missing on the node' % (cidr, host_ifname))
                sysctls = engine.ProxyArpManager(cache=cache).run('gathered', [{'interface': host_ifname}])
                values = (sysctls['gathered'] or [{}])[0]
                for key, value in (('proxy_arp', True), ('forwarding', True), ('proxy_delay', 0)):
                    if values.get(key) != value:
                        problems.append('%s of %s is %r, Calico sets %r' % (key, host_ifname, values.get(key), value))
        except engine.DataplaneError as exc:
            problems.append(str(exc))
        finally:
            cache.close()
        if self.ipam_in_process():
            held = sorted('%s/32' % ip for ip in self.ipam_lookup())
            if held != want:
                problems.append('IPAM handle %s holds %s, prevResult says %s'
                                % (self.handle, ', '.join(held) or 'nothing', ', '.join(want)))
        if problems:
            raise CNIError(spec.CHECK_FAILED, 'CHECK of %s failed: %s' % (self.env.container_id, '; '.join(problems)))
        self.log.info('CHECK passed')
        return None

    def cmd_gc(self, dataplane=True):
        """CNI 1.1 GC: release what this network holds on this node for containers no longer valid."""
        valid = self.conf.raw.get('cni.dev/valid-attachments') or []
        if not isinstance(valid, list):
            raise CNIError(spec.INVALID_CONFIG, 'invalid network config: cni.dev/valid-attachments must be a list')
        live_ids = set(str(a.get('containerID')) for a in valid if isinstance(a, dict))
        prefix = self.conf.name + '.'
        try:
            info = self.allocator.info(node=self.node)
        except StoreError as exc:
            raise store_error(exc, 'GC: reading IPAM')
        released = []
        for entry in info['handles']:
            handle = entry['handle']
            if not handle.startswith(prefix) or handle[len(prefix):] in live_ids:
                continue
            try:
                self.allocator.release(handle, extra_blocks=entry['blocks'])
            except (StoreError, ipam_model.IPAMError) as exc:
                raise CNIError(spec.IPAM_FAILURE, 'GC: releasing handle %s: %s' % (handle, exc))
            released.append(handle)
        removed = []
        if dataplane:
            from ansible_collections.podnet.calico.plugins.module_utils.cni import _engine as engine
            try:
                records = self.store.list(wep.WEP_PREFIX)
            except StoreError as exc:
                raise store_error(exc, 'GC: reading WorkloadEndpoints')
            for key, value, revision in records:
                try:
                    record = json.loads(value)
                except ValueError:
                    continue
                rspec = record.get('spec') or {}
                if rspec.get('node') != self.node or not rspec.get('containerID') \
                        or rspec['containerID'] in live_ids or prefix + rspec['containerID'] not in released:
                    continue
                if rspec.get('interfaceName', '').startswith('cali'):
                    self._remove_veth(engine, rspec['interfaceName'])
                try:
                    self.store.delete(key, revision)
                except (ConflictError, StoreError):
                    continue
                removed.append(key)
        self.log.info('GC: released %s; removed %s', ', '.join(released) or 'nothing', ', '.join(removed) or 'nothing')
        return None

    def cmd_status(self):
        if self.conf.datastore_type == 'kubernetes':
            raise CNIError(spec.PLUGIN_NOT_AVAILABLE, KUBERNETES_DATASTORE_MSG % (self.conf.kubeconfig,))
        try:
            pools = [p for p in self.allocator.pools() if not p['disabled']]
        except CNIError as exc:
            raise CNIError(spec.PLUGIN_NOT_AVAILABLE, exc.msg)
        except StoreError as exc:
            raise CNIError(spec.PLUGIN_NOT_AVAILABLE, 'the etcd datastore is not available: %s' % exc)
        if not pools:
            raise CNIError(spec.PLUGIN_NOT_AVAILABLE, 'no enabled IP pool in the datastore: pods cannot get addresses')
        return None
