# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Entry point of the ``calico`` and ``calico-ipam`` executables (private to podnet.calico).

The name the program was called by picks the role: ``calico-ipam`` (or any name ending in ``-ipam``)
is the IPAM plugin, anything else the network plugin. The result or the CNI error object goes to
stdout; the exit status is 0 on success and 1 on error, as the CNI specification says.
"""

import os
import sys
import traceback

from ansible_collections.podnet.calico.plugins.module_utils.cni import _spec as spec
from ansible_collections.podnet.calico.plugins.module_utils.cni._spec import CNIError


def main(argv0=None, environ=None, stdin=None, stdout=None):
    environ = os.environ if environ is None else environ
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    name = os.path.basename(argv0 or sys.argv[0])
    ipam_only = name.endswith('-ipam')
    from ansible_collections.podnet.calico.plugins.module_utils.cni._log import Log
    log = Log(None, container_id=environ.get('CNI_CONTAINERID', ''), plugin=name)
    cni_version = spec.LATEST
    plugin = None
    try:
        from ansible_collections.podnet.calico.plugins.module_utils.cni._config import Env, NetConf, read_stdin
        env = Env(environ)
        raw = read_stdin(stdin)
        if env.command == 'VERSION' and not raw:
            raw = {'cniVersion': spec.LATEST}
        cni_version = raw.get('cniVersion') or cni_version
        conf = NetConf(raw, ipam_only=ipam_only)
        from ansible_collections.podnet.calico.plugins.module_utils.cni._plugin import Plugin
        plugin = Plugin(conf, env, log, ipam_only=ipam_only, self_path=argv0 or sys.argv[0])
        result = plugin.run()
    except CNIError as exc:
        log.error('%s failed: [%d] %s', environ.get('CNI_COMMAND', '?'), exc.code, exc.msg)
        stdout.write(spec.dumps(exc.to_json(cni_version)) + '\n')
        stdout.flush()
        return 1
    except Exception as exc:  # pylint: disable=broad-except
        log.error('unexpected error: %s', traceback.format_exc().replace('\n', ' | '))
        err = CNIError(999, 'internal error of the %s plugin: %s: %s' % (name, type(exc).__name__, exc),
                       ' | '.join(traceback.format_exc().strip().splitlines()[-6:]))
        stdout.write(spec.dumps(err.to_json(cni_version)) + '\n')
        stdout.flush()
        return 1
    finally:
        if plugin is not None:
            plugin.close()
        log.close()
    if result is not None:
        stdout.write(spec.dumps(result) + '\n')
        stdout.flush()
    log.info('%s ok', environ.get('CNI_COMMAND'))
    log.close()
    return 0
