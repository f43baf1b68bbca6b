# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ask each installed CNI plugin for its CNI versions, the CNI way, in one process on the node.

Run by tasks/verify.yml as ``python -c <this file> <bin dir> <plugin>...``. A plugin that is not
there is left out (in check mode a plugin that would be installed is not there yet); the others are
run side by side with CNI_COMMAND=VERSION and '{"cniVersion": "1.0.0"}' on stdin. Prints one JSON object
{plugin: stdout} and exits 1, naming the plugin, when one of them could not run or failed.
"""

import json
import os
import subprocess
import sys


def main(argv):
    bin_dir, names = argv[0], argv[1:]
    answers, problems, running = {}, [], []
    env = dict(os.environ, CNI_COMMAND="VERSION")
    # All started first, then read in order: the plugins answer side by side.
    for name in names:
        path = os.path.join(bin_dir, name)
        if not os.path.lexists(path):
            continue
        try:
            proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env)
        except OSError as exc:
            problems.append("%s: %s" % (path, exc))
            continue
        running.append((name, path, proc))
    for name, path, proc in running:
        out, err = proc.communicate(b'{"cniVersion": "1.0.0"}')
        if proc.returncode != 0:
            problems.append("%s exited with %d: %s" % (path, proc.returncode, err.decode("utf-8", "replace").strip()))
            continue
        answers[name] = out.decode("utf-8", "replace").rstrip("\r\n")
    sys.stdout.write(json.dumps(answers, sort_keys=True) + "\n")
    if problems:
        sys.stderr.write("; ".join(problems) + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
