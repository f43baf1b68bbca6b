# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# podnet.calico's own Calico-compatible CNI plugin (private to the collection).
#
# _engine.py  the one file that imports the data-plane engines and naming (calico_veth, proxy_arp,
#             calico_route build exactly this data plane)
# _spec.py    CNI versions, error codes, results
# _config.py  the network config (Calico's plugin fields) and the runtime's environment
# _wep.py     the WorkloadEndpoint record in Calico's etcd v3 layout
# _log.py     the log file (container id on every line)
# _plugin.py  the commands: ADD, DEL, CHECK, VERSION, GC, STATUS for calico and calico-ipam
# _main.py    the plugin's entry point (one request: environment and stdin in, result out)
# _client.py  what the executables run first: hand the request to the node's resident helper
#             (built-in modules only), or run it in-process
# _runner.py  the per-container lock, running _main in-process or in a worker, starting a helper
# _helper.py  the resident helper: one per node and build, a forked worker per request, idle exit
