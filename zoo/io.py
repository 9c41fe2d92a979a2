"""Atomic writes: a file is written under a temporary name in its own folder, then renamed into place, so a crash
or a concurrent run never leaves a half-written file where a reader looks.

The temporary of ``folder/<name>`` is ``folder/.<name>.<host>.<pid>.<token>.tmp``. The file keeps the permissions
``open()`` gives a new file, 0666 less the umask, whatever the writer did (``tempfile.mkstemp`` and safetensors
create theirs 0600: a shared data folder would become unreadable to the others). A write that was killed leaves
its temporary behind; the next write or read of the same target removes it when its process is gone (same host)
or it is more than a day old (any host, for hosts whose processes we cannot see). A live writer's is kept,
unless the write has taken more than a day.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ORPHAN_AGE = 24 * 3600  # seconds
_HOST = re.sub(r"[^\w-]", "_", socket.gethostname())  # no dots: the name splits on them


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (one of another user counts)."""
    if os.name != "posix":  # os.kill(pid, 0) would terminate it on Windows: rely on the age alone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans(path: str | os.PathLike) -> None:
    """Remove the temporaries of ``path`` that killed writes left: those of a gone process of this host, and
    those older than :data:`ORPHAN_AGE` from any host."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?P<host>[\w-]+)\.(?P<pid>\d+)\.[0-9a-f]+\.tmp")
    try:
        entries = list(os.scandir(path.parent))
    except FileNotFoundError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None:
            continue
        try:
            if (match["host"] == _HOST and not _alive(int(match["pid"]))
                    or time.time() - entry.stat(follow_symlinks=False).st_mtime > ORPHAN_AGE):
                os.unlink(entry.path)
        except FileNotFoundError:  # its writer renamed it, or another cleaner removed it, meanwhile
            pass


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary path in ``path``'s folder (an empty file) for the caller to write; when the block
    succeeds it is renamed to ``path``, when it fails it is removed. Creates the folder, and removes the orphans
    of ``path``::

        with atomic_path("data/entry.pt") as tmp:
            torch.save(obj, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(path)
    tmp = path.with_name(f".{path.name}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # the name is ours, with open()'s mode
    mode = stat.S_IMODE(tmp.stat().st_mode)
    try:
        yield tmp
        os.chmod(tmp, mode)  # for a writer that replaced the file with one of its own mode
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
