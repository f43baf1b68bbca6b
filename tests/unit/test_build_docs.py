# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The documentation site: built by scripts/docs.sh (antsibull-docs + Sphinx, warnings are errors)
with a page for every module, filter and role and every hand-written guide.

Checks the site that `make docs` built (PODNET_DOCS_BUILT=<dir>), or builds one into a temporary
directory (a few minutes).
"""

from __future__ import annotations

import glob
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    built = os.environ.get("PODNET_DOCS_BUILT")
    if built:
        return built
    out = str(tmp_path_factory.mktemp("docs"))
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "docs.sh")], env=dict(os.environ, PODNET_DOCS_DIR=out),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:]
    return out


def _names(pattern):
    return sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(ROOT, pattern))
                  if not os.path.basename(p).startswith("_"))


def test_every_module_filter_and_role_has_a_page(site):
    html = os.path.join(site, "html", "collection")
    expected = (["%s_module.html" % n for n in _names("plugins/modules/*.py")]
                + ["%s_role.html" % os.path.basename(os.path.dirname(os.path.dirname(p)))
                   for p in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml"))])
    filters = _names("plugins/filter/*.yml")
    assert filters, "no filter documentation found"
    expected += ["%s_filter.html" % n for n in filters]
    missing = [page for page in expected if not os.path.exists(os.path.join(html, page))]
    assert not missing, missing


def test_every_guide_is_a_page_of_the_site(site):
    guides = _names("docs/*.md")
    assert {"quickstart", "lab", "cluster", "ipam", "awx", "troubleshooting", "modules", "development"} <= set(guides)
    missing = [g for g in guides if not os.path.exists(os.path.join(site, "html", "guides", g + ".html"))]
    assert not missing, missing
    with open(os.path.join(site, "html", "index.html"), encoding="utf-8") as handle:
        index = handle.read()
    for guide in guides:
        assert 'href="guides/%s.html"' % guide in index, guide
    assert 'href="collection/index.html"' in index


def test_module_page_shows_its_options(site):
    with open(os.path.join(site, "html", "collection", "calico_veth_module.html"), encoding="utf-8") as handle:
        page = handle.read()
    assert "container_netns" in page and "Return Values" in page
