import pytest


@pytest.fixture(autouse=True)
def isolated_data_env(tmp_path, monkeypatch):
    """Point the cache into tmp_path and clear user overrides, so no test touches the real home."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GANFORGE_CACHE", str(cache))
    monkeypatch.delenv("GANFORGE_DATA_DIR", raising=False)
    monkeypatch.delenv("GANFORGE_MIRROR", raising=False)
    return cache
