# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The etcd v3 IPAM store, through etcd's JSON gateway with etcd3gw (private to podnet.calico).

Conditional writes are etcd transactions: ``compare`` on ``mod_revision`` for put and delete,
on ``create_revision == 0`` for create. Several endpoints may be given; a request that cannot
reach one endpoint goes to the next. TLS uses a CA file and an optional client certificate and key.
"""

import base64
import os
import ssl

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover
    from urlparse import urlsplit  # type: ignore

from ansible_collections.podnet.calico.plugins.module_utils.ipam._store import ConflictError, Store, StoreError, StoreUnavailableError, check_ops

ETCD3GW_IMPORT_ERROR = None
try:
    import etcd3gw
    from etcd3gw import exceptions as etcd_exceptions
except ImportError as exc:  # pragma: no cover - reported by the module
    etcd3gw = None
    etcd_exceptions = None
    ETCD3GW_IMPORT_ERROR = exc


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


def check_tls_files(ca_cert=None, cert=None, key=None):
    """Fail early, naming the option, when a TLS file is missing or unusable."""
    if (cert is None) != (key is None):
        raise StoreError('etcd_cert and etcd_key must be given together',
                         'etcd_cert' if cert is None else 'etcd_key')
    # A bare client context: the checks need no system CA store (loading it costs about 50 ms a call).
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_cert is not None:
        _check_file(ca_cert, 'etcd_ca_cert')
        try:
            ctx.load_verify_locations(cafile=ca_cert)
        except (ssl.SSLError, ValueError, OSError) as exc:
            raise StoreError('etcd_ca_cert=%s is not a usable PEM CA certificate: %s' % (ca_cert, exc),
                             'etcd_ca_cert')
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
        if etcd3gw is None:
            raise StoreError('the etcd datastore needs the Python library etcd3gw: %s' % ETCD3GW_IMPORT_ERROR)
        parsed = parse_endpoints(endpoints, tls_files=bool(ca_cert or cert))
        check_tls_files(ca_cert, cert, key)
        self.endpoints = [redact_url(u) for u in endpoints]
        self._clients = []
        for scheme, host, port in parsed:
            client = etcd3gw.Etcd3Client(host=host, port=port, protocol=scheme,
                                         ca_cert=ca_cert, cert_cert=cert, cert_key=key,
                                         timeout=timeout, api_path=api_path)
            if ca_cert is not None:
                # An explicit CA must win over REQUESTS_CA_BUNDLE and friends from the environment.
                client.session.trust_env = False
            client.url = '%s://%s:%d' % (scheme, '[%s]' % host if ':' in host else host, port)
            self._clients.append(client)
        self._current = 0

    def describe(self):
        return 'etcd:%s' % ','.join(self.endpoints)

    # -- transport -------------------------------------------------------------------------

    def _call(self, path, body):
        errors = []
        n = len(self._clients)
        for attempt in range(2 * n):
            client = self._clients[(self._current + attempt) % n]
            try:
                result = client.post(client.get_url(path), json=body)
                self._current = (self._current + attempt) % n
                return result
            except (etcd_exceptions.ConnectionFailedError, etcd_exceptions.ConnectionTimeoutError) as exc:
                text = getattr(exc, 'detail_text', None) or str(exc) or type(exc).__name__
                if 'SSL' in text or 'CERTIFICATE' in text.upper():
                    raise StoreError('TLS connection to etcd endpoint %s failed (check etcd_ca_cert, '
                                     'etcd_cert and etcd_key): %s' % (client.url, text), 'etcd_ca_cert')
                errors.append('%s: %s' % (client.url, text.splitlines()[0][:300] if text else type(exc).__name__))
            except etcd_exceptions.Etcd3Exception as exc:
                detail = getattr(exc, 'detail_text', None) or str(exc)
                if isinstance(exc, etcd_exceptions.InternalServerError):
                    # "leader changed", "no leader", "request timed out": the cluster is electing
                    # or a member is cut off; another member (or a later try) can answer.
                    errors.append('%s: %s' % (client.url, detail.strip()[:300]))
                    continue
                raise StoreError('etcd endpoint %s refused the request: %s' % (client.url, detail), 'etcd_endpoints')
            except (OSError, ValueError) as exc:
                raise StoreError('etcd endpoint %s: %s' % (client.url, exc), 'etcd_endpoints')
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
            try:
                client.session.close()
            except Exception:  # pylint: disable=broad-except
                pass
