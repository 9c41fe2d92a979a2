import torch

from zoo.cache import atomic_save, cache_dir, cached


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
