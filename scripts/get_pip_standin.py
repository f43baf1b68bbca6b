#!/usr/bin/env python
# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test runs `python get_pip_<version>.py <pip options> <packages>` in a fresh virtual
environment. This machine cannot download that script, so this one bootstraps pip with the
standard library's ensurepip and then installs the requested packages with that pip.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys

DROP = {"--no-setuptools", "--no-wheel"}


def main():
    args = [arg for arg in sys.argv[1:] if arg not in DROP]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
    cafile = "/etc/ssl/certs/ca-certificates.crt"
    extra = ["--cert", cafile] if os.path.exists(cafile) else []
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + extra + args)


if __name__ == "__main__":
    main()
