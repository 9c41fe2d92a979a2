import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from zoo.cache import atomic_save, cache_dir, cached
from zoo.io import atomic_path


def test_cached_builds_once_then_loads(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return {"x": torch.arange(3.0), "n": 3}

    path = tmp_path / "sub" / "entry.pt"
    first, second = cached(path, build), cached(path, build)
    assert len(calls) == 1 and torch.equal(first["x"], second["x"]) and second["n"] == 3
    assert [p.name for p in path.parent.iterdir()] == ["entry.pt"]  # no temporary file left behind


def test_corrupt_entry_is_rebuilt(tmp_path):
    path = tmp_path / "entry.pt"
    path.write_bytes(b"half a file")
    assert cached(path, lambda: torch.ones(2)).sum() == 2
    assert torch.load(path, weights_only=True).sum() == 2


def test_failed_write_leaves_nothing(tmp_path):
    class Unsaveable:
        def __reduce__(self):
            raise RuntimeError("boom")

    try:
        atomic_save(Unsaveable(), tmp_path / "entry.pt")
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path


@pytest.fixture
def umask():
    """``umask(mask)`` sets the process umask for the test (restored after)."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_entries_honour_the_umask(tmp_path, umask, mask, mode):
    """Like a file made by open(): a shared data folder stays readable (mkstemp's 0600 used to stay)."""
    umask(mask)
    assert stat.S_IMODE(atomic_save(torch.ones(2), tmp_path / "entry.pt").stat().st_mode) == mode


def _renamed(tmp: Path, host: str | None = None, pid: int | None = None) -> Path:
    """The temporary name ``tmp`` (``.<name>.<host>.<pid>.<token>.tmp``) with another host or pid."""
    *name, own_host, own_pid, token, suffix = tmp.name.split(".")
    return tmp.with_name(".".join([*name, host or own_host, str(pid or own_pid), token, suffix]))


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_orphans_of_killed_writes_go_and_live_writes_stay(tmp_path):
    path = tmp_path / "entry.pt"
    with atomic_path(path) as live:  # a writer of this host, mid-write
        live.write_bytes(b"half")
        dead = _renamed(live, pid=_dead_pid())                  # a write killed on this host
        elsewhere = _renamed(live, host="other-node", pid=1)   # a live write on another host
        stale = _renamed(live, host="other-node", pid=2)       # a write killed there two days ago
        for orphan in (dead, elsewhere, stale):
            orphan.write_bytes(b"half")
        two_days_ago = time.time() - 2 * 24 * 3600
        os.utime(stale, (two_days_ago, two_days_ago))
        neighbour = tmp_path / f".other.pt{dead.name.removeprefix('.entry.pt')}"  # another target's: not ours
        neighbour.write_bytes(b"half")
        atomic_save(torch.ones(2), path)                         # the next write of the same target
        assert live.exists() and elsewhere.exists() and neighbour.exists()
        assert not dead.exists() and not stale.exists()
        torch.save(torch.zeros(2), live)
    assert torch.equal(torch.load(path, weights_only=True), torch.zeros(2))  # the live write finished
    assert not live.exists()
    dead.write_bytes(b"half")
    assert cached(path, lambda: None).sum() == 0  # a read cleans too
    assert not dead.exists()
