"""Settings: defaults, the state-dir rules, and every invalid variable reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from torpor.controlplane.settings import Settings, SettingsError, default_state_dir, load_settings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STATE_DIRECTORY", "INVOCATION_ID", "TORPOR_STATE_DIR", "TORPOR_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_follow_the_design(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORPOR_STATE_DIR", str(tmp_path))
    settings = load_settings()
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8766)
    assert (settings.grpc_host, settings.grpc_port) == ("127.0.0.1", 8767)
    assert (settings.heartbeat_interval_s, settings.heartbeat_ttl_s) == (5, 10)
    assert settings.heartbeat_grace_s == 8
    assert settings.join_token_ttl_s == 3600
    assert settings.log_level == "info"
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/controlplane.db"


def test_state_dir_prefers_systemd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path}/a:{tmp_path}/b")
    assert default_state_dir() == tmp_path / "a"


def test_state_dir_for_a_user_is_in_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert default_state_dir() == Path.home() / ".local/share/torpor"


def test_state_dir_for_a_root_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setenv("INVOCATION_ID", "abc")
    assert default_state_dir() == Path("/var/lib/torpor")


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORPOR_DATABASE_URL", "postgresql+asyncpg://u@db/torpor")
    monkeypatch.setenv("TORPOR_HEARTBEAT_TTL_S", "2.5")
    monkeypatch.setenv("TORPOR_LOG_LEVEL", "DEBUG")
    settings = load_settings()
    assert settings.database_url == "postgresql+asyncpg://u@db/torpor"
    assert settings.heartbeat_ttl_s == 2.5
    assert settings.log_level == "debug"


def test_every_invalid_variable_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORPOR_HTTP_PORT", "70000")
    monkeypatch.setenv("TORPOR_GRPC_PORT", "many")
    monkeypatch.setenv("TORPOR_HEARTBEAT_INTERVAL_S", "0")
    monkeypatch.setenv("TORPOR_LOG_LEVEL", "loud")
    monkeypatch.setenv("TORPOR_DATABASE_URL", "mysql://x")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    lines = caught.value.lines
    assert "TORPOR_HTTP_PORT: Input should be less than 65536" in lines
    assert any(
        line.startswith("TORPOR_GRPC_PORT: Input should be a valid integer") for line in lines
    )
    assert "TORPOR_HEARTBEAT_INTERVAL_S: Input should be greater than 0" in lines
    assert any(line.startswith("TORPOR_LOG_LEVEL: ") for line in lines)
    assert any(line.startswith("TORPOR_DATABASE_URL: unsupported database URL") for line in lines)
    assert len(lines) == 5


def test_every_field_is_documented() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no docstring"


def test_tls_settings_come_together_and_must_be_readable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "server.key").write_text("key")
    monkeypatch.setenv("TORPOR_GRPC_TLS_KEY", str(tmp_path / "server.key"))
    with pytest.raises(SettingsError) as caught:
        load_settings(state_dir=tmp_path)
    assert "set TORPOR_GRPC_TLS_CERT and TORPOR_GRPC_TLS_KEY together" in str(caught.value)
    monkeypatch.setenv("TORPOR_GRPC_TLS_CERT", "/nonexistent/server.crt")
    with pytest.raises(SettingsError) as caught:
        load_settings(state_dir=tmp_path)
    assert caught.value.lines == [
        "TORPOR_GRPC_TLS_CERT: cannot read /nonexistent/server.crt: No such file or directory"
    ]
