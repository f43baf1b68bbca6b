#!/usr/bin/env bash
# make docs: the documentation site (HTML) in .build/docs/html.
#  - antsibull-docs writes a page for every module, filter and role of podnet.calico (as installed
#    in .build/collections, which links the working tree) into .build/docs/src/collection
#  - the hand-written guides (docs/*.md) become pages of the same site under guides/
#  - sphinx-build -W: any warning fails the build
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="${PODNET_DOCS_DIR:-$root/.build/docs}"
src="$out/src"
rm -rf "$src" "$out/html" "$out/doctrees"
mkdir -p "$src/collection" "$src/guides"
chmod og-w "$src/collection"
cp "$root/docs/site/index.rst" "$src/"
cp "$root"/docs/*.md "$src/guides/"
[ -d "$root/docs/examples" ] && cp -r "$root/docs/examples" "$src/guides/"
echo "== antsibull-docs collection podnet.calico"
antsibull-docs --config-file "$root/docs/site/antsibull-docs.cfg" collection --use-current --squash-hierarchy \
    --fail-on-error --cleanup everything --dest-dir "$src/collection" podnet.calico
# Labels the generated pages use from the Ansible docsite and from other collections' docs (not part
# of this offline build): one page that defines them, each linking to the published page.
"$root/.venv/bin/python" - "$src" <<'PY'
import glob, os, re, sys
src = sys.argv[1]
core = {"common_return_values": ("Common return values", "https://docs.ansible.com/projects/ansible/latest/reference_appendices/common_return_values.html"),
        "ansible_configuration_settings": ("Ansible configuration settings", "https://docs.ansible.com/projects/ansible/latest/reference_appendices/config.html"),
        "callback_plugins": ("Callback plugins", "https://docs.ansible.com/projects/ansible/latest/plugins/callback.html")}
labels = set()
for path in glob.glob(os.path.join(src, "collection", "*.rst")):
    with open(path, encoding="utf-8") as handle:
        labels.update(re.findall(r":ref:`[^`<]*<([^>`]+)>`", handle.read()))
        handle.seek(0)
        labels.update(re.findall(r":ref:`([^`<]+)`", handle.read()))
lines = [".. _podnet_external_references:", "", "Elsewhere", "=========", "",
         "Pages of Ansible and of the collections podnet.calico depends on, referenced from this site.", ""]
for label in sorted(labels):
    match = re.fullmatch(r"ansible_collections\.([a-z0-9_]+)\.([a-z0-9_]+)\.([a-z0-9_]+)_(module|filter|role|lookup|test|plugin)", label)
    if label in core:
        title, url = core[label]
    elif match and (match.group(1), match.group(2)) != ("podnet", "calico"):
        ns, coll, name, kind = match.groups()
        title = "%s.%s.%s (%s)" % (ns, coll, name, kind)
        url = "https://docs.ansible.com/projects/ansible/latest/collections/%s/%s/%s_%s.html" % (ns, coll, name, kind)
    else:
        continue
    lines += [".. _%s:" % label, "", title, "-" * len(title), "", "`%s <%s>`__" % (url, url), ""]
with open(os.path.join(src, "external.rst"), "w", encoding="utf-8") as handle:
    handle.write("\n".join(lines))
PY
echo "== sphinx-build (warnings are errors)"
sphinx-build -b html -c "$root/docs/site" -W --keep-going -q -d "$out/doctrees" "$src" "$out/html"
echo "docs: $out/html/index.html"
