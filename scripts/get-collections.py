# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install the collections podnet.calico depends on into a collections path, from PyPI's `ansible`.

The pinned `ansible` wheel (requirements/collections.txt, checked by hash) is downloaded once with
pip into .build/cache and only the listed collections are unpacked: a few seconds on a fresh
machine instead of installing the whole package. Each collection's version must be the pinned one
and satisfy the lower bound that galaxy.yml declares.

    python scripts/get-collections.py [DEST]   (default: .build/collections)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PINS = os.path.join(ROOT, "requirements", "collections.txt")
CACHE = os.path.join(ROOT, ".build", "cache")


def read_pins(path=PINS):
    """Return (pip requirement line, {collection: version}) from requirements/collections.txt."""
    requirement, versions = None, {}
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            match = re.fullmatch(r"([a-z0-9_]+\.[a-z0-9_]+):\s*([0-9][0-9A-Za-z.+-]*)", line)
            if match:
                versions[match.group(1)] = match.group(2)
            elif requirement is None:
                requirement = line
            else:
                raise SystemExit("%s: unexpected line %r" % (path, line))
    if requirement is None or not versions:
        raise SystemExit("%s: needs one pip requirement and at least one collection" % path)
    return requirement, versions


def _key(version):
    return tuple(int(part) for part in re.findall(r"\d+", version.split("-")[0].split("+")[0]))


def check_bounds(versions, galaxy_path=os.path.join(ROOT, "galaxy.yml")):
    """Every galaxy.yml dependency is pinned, at a version its range (>=X[,<Y]) admits."""
    import yaml  # PyYAML comes with ansible-core

    with open(galaxy_path, encoding="utf-8") as handle:
        deps = (yaml.safe_load(handle) or {}).get("dependencies") or {}
    problems = []
    for name, spec in deps.items():
        if name not in versions:
            problems.append("%s (galaxy.yml) is not pinned in %s" % (name, PINS))
            continue
        for clause in str(spec).split(","):
            match = re.fullmatch(r"\s*(>=|<|>|<=|==|!=)\s*([0-9.]+)\s*", clause)
            if not match:
                problems.append("%s: cannot read the range %r" % (name, spec))
                continue
            op, bound = match.groups()
            have, want = _key(versions[name]), _key(bound)
            ok = {">=": have >= want, ">": have > want, "<": have < want, "<=": have <= want,
                  "==": have == want, "!=": have != want}[op]
            if not ok:
                problems.append("%s %s does not satisfy %s%s (galaxy.yml)" % (name, versions[name], op, bound))
    return problems


def wheel(requirement):
    """Path of the pinned wheel in the cache, downloaded with pip when missing."""
    name, version = re.match(r"([A-Za-z0-9_.-]+)==([^\s]+)", requirement).groups()
    path = os.path.join(CACHE, "%s-%s-py3-none-any.whl" % (name.replace("-", "_"), version))
    if os.path.exists(path):
        return path
    os.makedirs(CACHE, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", dir=CACHE, delete=False) as req:
        req.write(requirement + "\n")
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                        "--no-deps", "--only-binary", ":all:", "--require-hashes", "-r", req.name,
                        "-d", CACHE], check=True)
    finally:
        os.unlink(req.name)
    if not os.path.exists(path):
        raise SystemExit("pip did not leave %s" % path)
    return path


def extract(whl, versions, dest):
    """Unpack each pinned collection to DEST/ansible_collections/<ns>/<name>; check its version."""
    with zipfile.ZipFile(whl) as archive:
        names = archive.namelist()
        for fqcn, version in sorted(versions.items()):
            ns, coll = fqcn.split(".")
            prefix = "ansible_collections/%s/%s/" % (ns, coll)
            target = os.path.join(dest, "ansible_collections", ns, coll)
            manifest = os.path.join(target, "MANIFEST.json")
            if os.path.exists(manifest):
                with open(manifest, encoding="utf-8") as handle:
                    if json.load(handle)["collection_info"]["version"] == version:
                        continue
            members = [n for n in names if n.startswith(prefix) and not n.endswith("/")]
            if not members:
                raise SystemExit("%s is not in %s" % (fqcn, os.path.basename(whl)))
            found = json.loads(archive.read(prefix + "MANIFEST.json"))["collection_info"]["version"]
            if found != version:
                raise SystemExit("%s is %s in %s, pinned %s" % (fqcn, found, os.path.basename(whl), version))
            tmp = target + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            for member in members:
                out = os.path.join(tmp, member[len(prefix):])
                os.makedirs(os.path.dirname(out), exist_ok=True)
                with archive.open(member) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            if os.path.islink(target):
                os.unlink(target)
            shutil.rmtree(target, ignore_errors=True)
            os.rename(tmp, target)
            print("installed %s %s into %s" % (fqcn, version, dest))


def main(argv):
    dest = os.path.abspath(argv[1] if len(argv) > 1 else os.path.join(ROOT, ".build", "collections"))
    requirement, versions = read_pins()
    problems = check_bounds(versions)
    if problems:
        raise SystemExit("\n".join(problems))
    extract(wheel(requirement), versions, dest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
