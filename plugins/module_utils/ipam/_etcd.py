# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The etcd v3 IPAM store, through etcd's JSON gateway (private to podnet.calico).

Conditional writes are etcd transactions: ``compare`` on ``mod_revision`` for put and delete,
on ``create_revision == 0`` for create. Several endpoints may be given; a request that cannot
reach one endpoint goes to the next. TLS uses a CA file and an optional client certificate and key.

The gateway speaks JSON over HTTP/1.1 (POST /v3/kv/range, /v3/kv/txn); the standard library's
http.client does it, one kept-alive connection per endpoint, so the store needs no third-party
library and a task pays neither the import nor the per-request cost of a general HTTP client.
"""

import base64
import http.client
import json
import os
import select
import ssl
from urllib.parse import urlsplit

from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import ConflictError, Store, StoreError, StoreUnavailableError, check_ops


def _b64(text):
    return base64.b64encode(text.encode('utf-8')).decode('ascii')


def _unb64(text):
    return base64.b64decode(text).decode('utf-8')


def _range_end(prefix):
    raw = bytearray(prefix.encode('utf-8'))
    raw[-1] += 1
    return base64.b64encode(bytes(raw)).decode('ascii')


def _check_file(path, option):
    if not os.path.isfile(path):
        raise StoreError('%s=%s: no such file' % (option, path), option)
    if not os.access(path, os.R_OK):
        raise StoreError('%s=%s: file is not readable' % (option, path), option)


def tls_context(ca_cert=None, cert=None, key=None):
    """The client TLS context of the store, failing early, naming the option, when a file is unusable.

    Without ``ca_cert`` the system's CA store verifies the server (loaded only then).
    """
    if (cert is None) != (key is None):
        raise StoreError('etcd_cert and etcd_key must be given together',
                         'etcd_cert' if cert is None else 'etcd_key')
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_cert is not None:
        _check_file(ca_cert, 'etcd_ca_cert')
        try:
            ctx.load_verify_locations(cafile=ca_cert)
        except (ssl.SSLError, ValueError, OSError) as exc:
            raise StoreError('etcd_ca_cert=%s is not a usable PEM CA certificate: %s' % (ca_cert, exc),
                             'etcd_ca_cert')
    else:
        ctx.load_default_certs()
    if cert is not None:
        _check_file(cert, 'etcd_cert')
        _check_file(key, 'etcd_key')
        try:
            ctx.load_cert_chain(cert, key)
        except (ssl.SSLError, ValueError, OSError) as exc:
            # The key's content is never part of the message.
            raise StoreError('etcd_cert=%s with etcd_key=%s is not a usable certificate and matching '
                             'private key: %s' % (cert, key, getattr(exc, 'reason', None) or type(exc).__name__),
                             'etcd_cert')
    return ctx


class HTTPError(Exception):
    """The gateway answered with an HTTP status other than 200."""

    def __init__(self, status, reason, text):
        super(HTTPError, self).__init__('HTTP %d %s: %s' % (status, reason, text.strip()[:300]))
        self.status = status


class Endpoint(object):
    """One etcd endpoint: POSTs JSON to its gateway over one kept-alive connection."""

    def __init__(self, scheme, host, port, timeout, context, api_path):
        self.scheme, self.host, self.port = scheme, host, port
        self.timeout = timeout
        self.context = context
        self.api_path = '/' + (api_path or '/v3/').strip('/')
        self.url = '%s://%s:%d' % (scheme, '[%s]' % host if ':' in host else host, port)
        self._conn = None

    def _connect(self):
        if self.scheme == 'https':
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.context())
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def post(self, path, body):
        """The decoded JSON answer; raises OSError (incl. ssl.SSLError, socket.timeout), HTTPError, ValueError."""
        data = json.dumps(body).encode('utf-8')
        headers = {'Content-Type': 'application/json'}
        if self._conn is None:
            self._conn = self._connect()
        try:
            self._conn.request('POST', self.api_path + path, body=data, headers=headers)
            resp = self._conn.getresponse()
            text = resp.read().decode('utf-8', 'replace')
        except (OSError, http.client.HTTPException):
            # the store's caller tries again (the next endpoint, or this one on a new connection)
            self.close()
            raise
        if resp.will_close:
            self.close()
        if resp.status != 200:
            raise HTTPError(resp.status, resp.reason, text)
        return json.loads(text)

    def connect(self):
        """Open the connection now (TCP and, for https, the TLS handshake) instead of at the first request."""
        if self._conn is None:
            self._conn = self._connect()
        if self._conn.sock is None:
            try:
                self._conn.connect()
            except Exception:
                self.close()
                raise

    def connected(self):
        """True while the kept-alive connection is open and the server has sent nothing on it but TLS
        records of its own (TLS 1.3 session tickets arrive after the handshake); a close or anything
        else means the connection is not usable."""
        sock = self._conn.sock if self._conn is not None else None
        if sock is None:
            return False
        old = sock.gettimeout()
        try:
            if not select.select([sock], [], [], 0)[0]:
                return True
            sock.settimeout(0)
            sock.recv(1)   # b'' (closed) or an answer nobody asked for: either way, not usable
            return False
        except (ssl.SSLWantReadError, BlockingIOError):
            return True    # only TLS records of the server's own were waiting
        except (OSError, ValueError):
            return False
        finally:
            try:
                sock.settimeout(old)
            except OSError:
                pass

    def close(self):
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # pylint: disable=broad-except
                pass
            self._conn = None


def redact_url(url):
    """``url`` with any user name and password replaced by ``***`` (for messages)."""
    text = str(url)
    if '@' in text:
        scheme, sep, rest = text.partition('://')
        if sep:
            return '%s://***@%s' % (scheme, rest.rpartition('@')[2])
        return '***@' + text.rpartition('@')[2]
    return text


def parse_endpoints(endpoints, tls_files=False):
    """Check every endpoint before anything is sent: [(scheme, host, port)].

    Refused, each with a message naming ``etcd_endpoints[i]`` and the redacted value: a URL that
    does not parse, a scheme other than http/https, credentials in the URL (never echoed), a path,
    query or fragment (etcd's gateway lives at the root: a path would be silently dropped), a bad
    port, and an http:// endpoint when TLS files are given (that would send the request in clear).
    """
    if not endpoints:
        raise StoreError('etcd_endpoints is empty: give at least one URL such as http://127.0.0.1:2379',
                         'etcd_endpoints')
    out = []
    for i, url in enumerate(endpoints):
        shown = redact_url(url)
        label = 'etcd_endpoints[%d]=%s' % (i, shown)
        if not isinstance(url, str) or not url.strip():
            raise StoreError('%s is empty' % label, 'etcd_endpoints')
        if any(ord(c) < 33 or ord(c) == 127 for c in url):
            raise StoreError('%s contains whitespace or control characters' % label, 'etcd_endpoints')
        try:
            parts = urlsplit(url if '://' in url else 'http://' + url)
            host = parts.hostname
            port = parts.port
        except ValueError as exc:
            raise StoreError('%s is not a valid URL: %s' % (label, str(exc).replace(url, shown)), 'etcd_endpoints')
        if parts.username is not None or parts.password is not None:
            raise StoreError('%s: credentials in the URL are not supported (etcd user authentication is not '
                             'implemented; use client certificates: etcd_cert, etcd_key)' % label, 'etcd_endpoints')
        if parts.scheme not in ('http', 'https'):
            raise StoreError('%s is not an http:// or https:// URL' % label, 'etcd_endpoints')
        if not host:
            raise StoreError('%s has no host' % label, 'etcd_endpoints')
        if parts.path not in ('', '/') or parts.query or parts.fragment:
            raise StoreError('%s has a path, query or fragment; give only scheme://host:port (the etcd v3 '
                             'gateway is found at the root)' % label, 'etcd_endpoints')
        if tls_files and parts.scheme != 'https':
            raise StoreError('%s is plain http:// but etcd_ca_cert/etcd_cert are given: use https:// '
                             '(nothing is sent in clear when TLS files are given)' % label, 'etcd_endpoints')
        out.append((parts.scheme, host, port or 2379))
    return out


class EtcdStore(Store):

    def __init__(self, endpoints, ca_cert=None, cert=None, key=None, timeout=5.0, api_path=None):
        parsed = parse_endpoints(endpoints, tls_files=bool(ca_cert or cert))
        context = None
        if ca_cert is not None or cert is not None or key is not None:
            context = tls_context(ca_cert, cert, key)
        self.endpoints = [redact_url(u) for u in endpoints]
        self._tls = (ca_cert, cert, key)
        self._context = context
        self._clients = [Endpoint(scheme, host, port, timeout, self._tls_context, api_path)
                         for scheme, host, port in parsed]
        self._current = 0

    def _tls_context(self):
        if self._context is None:
            self._context = tls_context(*self._tls)
        return self._context

    def describe(self):
        return 'etcd:%s' % ','.join(self.endpoints)

    def connect(self):
        """Connect to the endpoint the next request goes to (see Endpoint.connect)."""
        self._clients[self._current].connect()

    def connected(self):
        return self._clients[self._current].connected()

    # -- transport -------------------------------------------------------------------------

    def _call(self, path, body):
        errors = []
        n = len(self._clients)
        for attempt in range(2 * n):
            client = self._clients[(self._current + attempt) % n]
            try:
                result = client.post(path, body)
                self._current = (self._current + attempt) % n
                return result
            except ssl.SSLError as exc:
                raise StoreError('TLS connection to etcd endpoint %s failed (check etcd_ca_cert, etcd_cert and '
                                 'etcd_key): %s' % (client.url, getattr(exc, 'reason', None) or exc), 'etcd_ca_cert')
            except HTTPError as exc:
                if exc.status in (500, 503, 408, 504):
                    # "leader changed", "no leader", "request timed out": the cluster is electing
                    # or a member is cut off; another member (or a later try) can answer.
                    errors.append('%s: %s' % (client.url, exc))
                    continue
                raise StoreError('etcd endpoint %s refused the request: %s' % (client.url, exc), 'etcd_endpoints')
            except (OSError, http.client.HTTPException) as exc:
                # refused, unreachable, timed out, reset: the next endpoint may answer
                text = str(exc) or type(exc).__name__
                if client.scheme == 'https' and isinstance(exc, (ConnectionResetError, BrokenPipeError)):
                    text += ' (the server closed the TLS connection: does it want a client certificate? check ' \
                            'etcd_cert and etcd_key)'
                errors.append('%s: %s' % (client.url, text.splitlines()[0][:300]))
            except ValueError as exc:
                raise StoreError('etcd endpoint %s answered something that is not JSON: %s' % (client.url, exc),
                                 'etcd_endpoints')
        raise StoreUnavailableError('cannot reach etcd at etcd_endpoints=%s: %s'
                                    % (','.join(self.endpoints), '; '.join(errors[-n:])), 'etcd_endpoints')

    @staticmethod
    def _kvs(response, keys_only=False):
        out = []
        for kv in response.get('kvs') or []:
            value = None if keys_only else _unb64(kv.get('value', ''))
            out.append((_unb64(kv['key']), value, int(kv.get('mod_revision', 0))))
        return out

    # -- contract --------------------------------------------------------------------------

    def get(self, key):
        kvs = self._kvs(self._call('/kv/range', {'key': _b64(key)}))
        if not kvs:
            return None
        return kvs[0][1], kvs[0][2]

    def get_many(self, keys):
        keys = list(keys)
        out = {}
        for i in range(0, len(keys), 64):
            chunk = keys[i:i + 64]
            if len(chunk) == 1:
                got = self.get(chunk[0])
                if got is not None:
                    out[chunk[0]] = got
                continue
            resp = self._call('/kv/txn', {'success': [{'request_range': {'key': _b64(k)}} for k in chunk]})
            for r in resp.get('responses') or []:
                for k, v, rev in self._kvs(r.get('response_range') or {}):
                    out[k] = (v, rev)
        return out

    @staticmethod
    def _list_body(prefix, keys_only):
        body = {'key': _b64(prefix), 'range_end': _range_end(prefix), 'sort_order': 'ASCEND', 'sort_target': 'KEY'}
        if keys_only:
            body['keys_only'] = True
        return body

    def list(self, prefix, keys_only=False):
        return self._kvs(self._call('/kv/range', self._list_body(prefix, keys_only)), keys_only)

    def read_many(self, keys, prefixes):
        """Every read in one transaction without conditions: one round trip, one revision."""
        keys, prefixes = list(keys), list(prefixes)
        ranges = [{'request_range': {'key': _b64(key)}} for key in keys]
        ranges += [{'request_range': self._list_body(prefix, keys_only)} for prefix, keys_only in prefixes]
        responses = (self._call('/kv/txn', {'success': ranges}).get('responses') or []) if ranges else []
        if len(responses) != len(ranges):
            raise StoreError('etcd answered %d of the %d reads of one transaction' % (len(responses), len(ranges)))
        answers = [r.get('response_range') or {} for r in responses]
        gets = {}
        for key, answer in zip(keys, answers):
            kvs = self._kvs(answer)
            gets[key] = (kvs[0][1], kvs[0][2]) if kvs else None
        lists = dict(((prefix, keys_only), self._kvs(answer, keys_only))
                     for (prefix, keys_only), answer in zip(prefixes, answers[len(keys):]))
        return gets, lists

    def commit(self, ops):
        check_ops(ops)
        compare = []
        success = []
        for op in ops:
            k = _b64(op.key)
            if op.kind == 'create':
                compare.append({'key': k, 'result': 'EQUAL', 'target': 'CREATE', 'create_revision': '0'})
            else:
                compare.append({'key': k, 'result': 'EQUAL', 'target': 'MOD', 'mod_revision': str(op.revision)})
            if op.kind == 'delete':
                success.append({'request_delete_range': {'key': k}})
            else:
                success.append({'request_put': {'key': k, 'value': _b64(op.value)}})
        # On failure etcd returns the keys' current state in the same round trip.
        failure = [{'request_range': {'key': _b64(op.key)}} for op in ops]
        resp = self._call('/kv/txn', {'compare': compare, 'success': success, 'failure': failure})
        if not resp.get('succeeded', False):
            current = dict((op.key, None) for op in ops)
            for r in resp.get('responses') or []:
                for k, v, rev in self._kvs(r.get('response_range') or {}):
                    current[k] = (v, rev)
            raise ConflictError('compare-and-swap failed on %s' % ', '.join(op.key for op in ops), current)
        return int((resp.get('header') or {}).get('revision', 0))

    def close(self):
        for client in self._clients:
            client.close()
