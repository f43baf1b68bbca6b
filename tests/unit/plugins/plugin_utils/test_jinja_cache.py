# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compiled-template cache: same results as ansible-core's own compile, each source compiled once."""

from __future__ import annotations

import marshal
import os
import stat

import pytest

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible._internal._templating._jinja_bits import AnsibleEnvironment

from ansible_collections.podnet.calico.plugins.plugin_utils.jinja_cache import JinjaCache, install, uninstall
from ansible_collections.podnet.calico.plugins.plugin_utils.private_files import private_directory


@pytest.fixture
def cache_dir(tmp_path):
    path = tmp_path / "jinja"
    assert private_directory(str(path)) is None
    yield str(path)
    uninstall()


def templar(**variables):
    return Templar(loader=DataLoader(), variables=variables)


def test_a_template_is_compiled_once_and_renders_the_same(cache_dir):
    expected = templar(a=1, b=[1, 2]).template(trust_as_template("{{ a + 1 }} {{ b | map('string') | join(',') }}"))
    cache = install(cache_dir)
    assert cache.compiled == 0
    assert templar(a=1, b=[1, 2]).template(trust_as_template("{{ a + 1 }} {{ b | map('string') | join(',') }}")) == expected == "2 1,2"
    assert cache.compiled == 1
    # Another templar, other values: the compiled code is reused, the rendering is this one's.
    assert templar(a=41, b=[3]).template(trust_as_template("{{ a + 1 }} {{ b | map('string') | join(',') }}")) == "42 3"
    assert cache.compiled == 1
    assert len(os.listdir(cache_dir)) == 1


def test_conditions_go_through_the_cache(cache_dir):
    cache = install(cache_dir)
    assert templar(x=3).evaluate_conditional(trust_as_template("x > 2 and x is number")) is True
    compiled = cache.compiled
    assert compiled >= 1
    assert templar(x=1).evaluate_conditional(trust_as_template("x > 2 and x is number")) is False
    assert cache.compiled == compiled


def test_another_process_reads_the_directory(cache_dir):
    cache = install(cache_dir)
    templar(n=2).template(trust_as_template("{{ n * 21 }}"))
    written = sorted(os.listdir(cache_dir))
    assert written and all(stat.S_IMODE(os.stat(os.path.join(cache_dir, name)).st_mode) == 0o600 for name in written)
    # A new process: nothing in memory, everything in the directory.
    uninstall()
    fresh = install(cache_dir)
    assert fresh is not cache and fresh.memory == {}
    assert fresh.load_all() == len(written)
    assert templar(n=3).template(trust_as_template("{{ n * 21 }}")) == 63
    assert fresh.compiled == 0


def test_other_delimiters_are_another_entry(cache_dir):
    cache = install(cache_dir)
    assert templar(v="x").template(trust_as_template("{{ v }} [% v %]")) == "x [% v %]"
    overridden = "#jinja2:variable_start_string:'[%', variable_end_string:'%]'\n{{ v }} [% v %]"
    assert templar(v="x").template(trust_as_template(overridden)) == "{{ v }} x"
    assert cache.compiled == 2


def test_a_damaged_entry_is_compiled_again(cache_dir):
    cache = install(cache_dir)
    templar(s="a").template(trust_as_template("{{ s | upper }}"))
    (name,) = os.listdir(cache_dir)
    uninstall()
    with open(os.path.join(cache_dir, name), "wb") as handle:
        handle.write(b"\x00not marshal")
    cache = install(cache_dir)
    assert cache.load_all() == 0
    assert templar(s="b").template(trust_as_template("{{ s | upper }}")) == "B"
    assert cache.compiled == 1
    with open(os.path.join(cache_dir, name), "rb") as handle:
        assert marshal.load(handle).co_filename == "<template>"


def test_a_value_that_is_not_code_is_not_used(tmp_path):
    path = tmp_path / ("a" * 40)
    path.write_bytes(marshal.dumps({"not": "code"}))
    cache = JinjaCache(str(tmp_path))
    assert cache.get("a" * 40) is None
    assert cache.load_all() == 0


def test_a_syntax_error_is_raised_and_not_kept(cache_dir):
    cache = install(cache_dir)
    with pytest.raises(Exception) as error:
        templar().template(trust_as_template("{{ 1 + }}"))
    assert "syntax" in str(error.value).lower()
    assert cache.compiled == 0
    assert os.listdir(cache_dir) == []


def test_uninstall_puts_the_methods_back(cache_dir):
    before = (AnsibleEnvironment.compile, AnsibleEnvironment.compile_expression, "compile" in AnsibleEnvironment.__dict__)
    install(cache_dir)
    assert AnsibleEnvironment.compile is not before[0]
    uninstall()
    assert (AnsibleEnvironment.compile, AnsibleEnvironment.compile_expression, "compile" in AnsibleEnvironment.__dict__) == before


def test_memory_only_without_a_directory():
    try:
        cache = install(None)
        assert templar(a=2).template(trust_as_template("{{ a ** 3 }}")) == 8
        assert templar(a=3).template(trust_as_template("{{ a ** 3 }}")) == 27
        assert cache.compiled == 1 and len(cache.memory) == 1
    finally:
        uninstall()


def test_private_directory_refuses_what_others_may_write(tmp_path):
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    assert "may be written by others (mode 0777)" in private_directory(str(open_dir))
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert "File exists" in private_directory(str(a_file))
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "made")
    (tmp_path / "made").mkdir(mode=0o700)
    assert "is not a directory" in private_directory(str(link))  # a link, even to a fit directory
    made = tmp_path / "new" / "cache"
    assert private_directory(str(made)) is None
    assert stat.S_IMODE(os.stat(made).st_mode) == 0o700
