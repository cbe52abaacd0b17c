import stat

from rumbo.lib.env import env_bool, env_int, env_list, secret_key_from


def test_secret_key_is_generated_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = secret_key_from(tmp_path)
    assert len(first) >= 50
    assert secret_key_from(tmp_path) == first
    mode = (tmp_path / "secret_key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_secret_key_from_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "given-key")
    assert secret_key_from(tmp_path) == "given-key"
    assert not (tmp_path / "secret_key").exists()


def test_typed_env_helpers(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "7")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_bool("X_BOOL") is True
    assert env_bool("X_MISSING", True) is True
    assert env_int("X_INT", 1) == 7
    assert env_list("X_LIST", []) == ["a", "b", "c"]
