# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check and write a set of files on a node in one pass (private to the collection).

Plain Python, no Ansible import. plan() reads what is there and says what would change; apply()
does it: directories first, then every file written to a temporary file beside it and renamed over
the old one (never half-written), then the symbolic links (made beside and renamed over, too), then
the removals. A failure undoes what the run changed (new files and directories removed, replaced
files restored, removed ones put back) or says what it could not undo.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile


class FilesError(Exception):
    """Bad input or a file that cannot be handled; the message names the entry and the value."""


def _mode(value, where):
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value)
    try:
        return int(text, 8)
    except ValueError:
        raise FilesError("%s: mode %r is not an octal number such as '0644'" % (where, value)) from None


def _on_disk(path, where=None, follow=True):
    """What is at path now: (link target, bytes, mode), each None when there is none.

    The one reader of plan() (a file's old content and mode, for the comparison and the undo; a link's
    or a file's in the way of a link, to put back), gather() and a file's src. follow=False reports a
    symbolic link itself (a link entry); follow=True reads through it (a file entry). The mode is taken
    from the open file, so content and mode are of the same file.
    """
    if not follow and os.path.islink(path):
        return os.readlink(path), None, None
    try:
        with open(path, "rb") as handle:
            return None, handle.read(), stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
    except FileNotFoundError:
        return None, None, None
    except IsADirectoryError:
        raise FilesError("%s%s is a directory, not a file" % ("%s: " % where if where else "", path)) from None


def gather(paths):
    """{path: {exists, content (text, or None), mode ('0644', or None)}} for each path."""
    out = {}
    for path in paths:
        _link, data, mode = _on_disk(path)
        if data is None:
            out[path] = {"exists": False, "content": None, "mode": None}
            continue
        out[path] = {"exists": True, "content": data.decode("utf-8", errors="surrogateescape"),
                     "mode": "%04o" % mode}
    return out


def plan(directories, files, links=(), read=None, absent=()):
    """What would change: a list of actions, each a dict with kind, path and what differs.

    read: gather()'s result for files already read by the caller; a file entry whose path is in it is
    compared with that content and mode instead of being read again. absent: paths of files or
    symbolic links to remove (after the links); a missing one is no change, a directory an error.
    """
    actions = []
    seen = set()
    for index, entry in enumerate(directories):
        where = "directories[%d]" % index
        path = entry.get("path")
        if not path or not os.path.isabs(path):
            raise FilesError("%s: path must be an absolute path, got %r" % (where, path))
        mode = _mode(entry.get("mode"), where)
        if os.path.isdir(path):
            have = stat.S_IMODE(os.stat(path).st_mode)
            if mode is not None and have != mode:
                actions.append({"kind": "chmod", "path": path, "mode": mode, "old_mode": have})
        elif os.path.exists(path):
            raise FilesError("%s: %s exists and is not a directory" % (where, path))
        else:
            top = path
            while not os.path.exists(os.path.dirname(top)):
                top = os.path.dirname(top)
            actions.append({"kind": "mkdir", "path": path, "top": top, "mode": mode if mode is not None else 0o755})
    for index, entry in enumerate(files):
        where = "files[%d]" % index
        path = entry.get("path")
        if not path or not os.path.isabs(path):
            raise FilesError("%s: path must be an absolute path, got %r" % (where, path))
        if path in seen:
            raise FilesError("%s: %s is listed twice" % (where, path))
        seen.add(path)
        mode = _mode(entry.get("mode"), where)
        if entry.get("src") is not None:
            want = _on_disk(entry["src"], where)[1]
            if want is None:
                raise FilesError("%s: the source %s does not exist on the node" % (where, entry["src"]))
        elif entry.get("content") is not None:
            want = entry["content"].encode("utf-8", errors="surrogateescape")
        else:
            raise FilesError("%s: give content or src for %s" % (where, path))
        if read is not None and path in read:
            known = read[path]
            have = known["content"].encode("utf-8", errors="surrogateescape") if known["exists"] else None
            have_mode = int(known["mode"], 8) if known["exists"] else None
        else:
            _link, have, have_mode = _on_disk(path, where)
        if have is None:
            actions.append({"kind": "write", "path": path, "data": want, "old": None,
                            "mode": mode if mode is not None else 0o644, "old_mode": None,
                            "secret": bool(entry.get("secret")), "show": entry.get("diff", True) is not False})
            continue
        if have != want and entry.get("force", True):
            actions.append({"kind": "write", "path": path, "data": want, "old": have,
                            "mode": mode if mode is not None else have_mode, "old_mode": have_mode,
                            "secret": bool(entry.get("secret")), "show": entry.get("diff", True) is not False})
        elif mode is not None and have_mode != mode:
            actions.append({"kind": "chmod", "path": path, "mode": mode, "old_mode": have_mode})
    for index, entry in enumerate(links):
        where = "links[%d]" % index
        path, target = entry.get("path"), entry.get("target")
        if not path or not os.path.isabs(path):
            raise FilesError("%s: path must be an absolute path, got %r" % (where, path))
        if not target:
            raise FilesError("%s: give the target of the link %s" % (where, path))
        if path in seen:
            raise FilesError("%s: %s is listed twice" % (where, path))
        seen.add(path)
        old_link, old, old_mode = _on_disk(path, where, follow=False)
        if old_link != target:
            actions.append({"kind": "link", "path": path, "target": target, "old_link": old_link,
                            "old": old, "old_mode": old_mode})
    for index, path in enumerate(absent):
        where = "absent[%d]" % index
        if not path or not os.path.isabs(path):
            raise FilesError("%s: path must be an absolute path, got %r" % (where, path))
        if path in seen:
            raise FilesError("%s: %s is listed twice" % (where, path))
        seen.add(path)
        if os.path.isdir(path) and not os.path.islink(path):
            raise FilesError("%s: %s is a directory, not a file" % (where, path))
        old_link, old, old_mode = _on_disk(path, where, follow=False)
        if old_link is not None or old is not None:
            actions.append({"kind": "remove", "path": path, "old_link": old_link, "old": old, "old_mode": old_mode})
    return actions


def _write(path, data, mode):
    handle, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=os.path.dirname(path))
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except OSError:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _link(path, target):
    tmp = os.path.join(os.path.dirname(path), ".%s.link%d" % (os.path.basename(path), os.getpid()))
    os.symlink(target, tmp)
    try:
        os.rename(tmp, path)
    except OSError:
        os.unlink(tmp)
        raise


def _undo(action):
    if action["kind"] == "mkdir":
        shutil.rmtree(action["top"])
    elif action["kind"] == "chmod":
        os.chmod(action["path"], action["old_mode"])
    elif action.get("old_link") is not None:
        _link(action["path"], action["old_link"])
    elif action["old"] is None:
        os.unlink(action["path"])
    else:
        _write(action["path"], action["old"], action["old_mode"])


def undo(actions):
    """Undo carried-out actions in reverse; the paths that could not be undone."""
    failed = []
    for action in reversed(actions):
        try:
            _undo(action)
        except OSError:
            failed.append(action["path"])
    return failed


def apply(actions):
    """Carry out plan()'s actions; on failure undo them in reverse and raise FilesError."""
    done = []
    try:
        for action in actions:
            if action["kind"] == "remove":
                os.unlink(action["path"])
            elif action["kind"] == "mkdir":
                os.makedirs(action["path"], mode=action["mode"])
                os.chmod(action["path"], action["mode"])
            elif action["kind"] == "chmod":
                os.chmod(action["path"], action["mode"])
            elif action["kind"] == "link":
                _link(action["path"], action["target"])
            else:
                _write(action["path"], action["data"], action["mode"])
            done.append(action)
    except OSError as exc:
        failed = undo(done)
        raise FilesError("%s (undone: %d change(s)%s)" % (
            exc, len(done) - len(failed), ("; could not undo %s" % ", ".join(failed)) if failed else "")) from exc


def diffs(actions):
    """Ansible's list of before/after diffs, one per changed path (secrets and files asked not to
    be shown as a note)."""
    out = []
    for action in actions:
        if action["kind"] == "remove":
            out.append({"before_header": action["path"], "after_header": action["path"],
                        "before": ("link to %s\n" % action["old_link"] if action["old_link"] is not None
                                   else "a file of %d bytes, mode %04o\n" % (len(action["old"]), action["old_mode"])),
                        "after": "(absent)\n"})
        elif action["kind"] == "link":
            before = ("link to %s\n" % action["old_link"] if action["old_link"] is not None
                      else "" if action["old"] is None else "a file of %d bytes\n" % len(action["old"]))
            out.append({"before_header": action["path"], "after_header": action["path"],
                        "before": before, "after": "link to %s\n" % action["target"]})
        elif action["kind"] != "write":
            before = "mode %04o\n" % action["old_mode"] if action.get("old_mode") is not None else ""
            after = ("directory, mode %04o\n" if action["kind"] == "mkdir" else "mode %04o\n") % action["mode"]
            out.append({"before_header": action["path"], "after_header": action["path"],
                        "before": before, "after": after})
        elif action["secret"]:
            out.append({"before_header": action["path"], "after_header": action["path"],
                        "before": "" if action["old"] is None else "(secret content)\n",
                        "after": "(secret content, changed)\n"})
        elif not action.get("show", True):
            out.append({"before_header": action["path"], "after_header": action["path"],
                        "before": "" if action["old"] is None else "%d bytes, sha256 %s\n" % (
                            len(action["old"]), hashlib.sha256(action["old"]).hexdigest()),
                        "after": "%d bytes, sha256 %s\n" % (len(action["data"]), hashlib.sha256(action["data"]).hexdigest())})
        else:
            out.append({"before_header": action["path"], "after_header": action["path"],
                        "before": "" if action["old"] is None else action["old"].decode("utf-8", "replace"),
                        "after": action["data"].decode("utf-8", "replace")})
    return out
