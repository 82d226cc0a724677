"""The agent config: defaults, every error at once, token sources, state-dir defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from torpor.agent.config import ConfigError, default_state_dir, load_config

pytestmark = pytest.mark.unit


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_valid_file_with_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [agent]
        name = "gpu-7"
        labels = { zone = "rack-4" }
        [control_plane]
        address = "cp.example:8767"
        join_token = "tjt_abc"
        """,
    )
    config = load_config(path)
    assert config.agent.name == "gpu-7"
    assert config.agent.labels == {"zone": "rack-4"}
    assert config.control_plane.token() == "tjt_abc"
    assert "tjt_abc" not in repr(config)
    assert config.control_plane.reconnect_initial_s == 0.5
    assert config.control_plane.reconnect_max_s == 15.0
    assert config.control_plane.connect_timeout_s == 10.0
    assert config.telemetry.disk_path == Path("/")
    assert (config.log.level, config.log.format) == ("info", "text")


def test_the_documented_example_config_is_valid() -> None:
    example = Path(__file__).parents[3] / "packaging" / "agent.example.toml"
    config = load_config(example)
    assert config.control_plane.address == "127.0.0.1:8767"


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [agent]
        labels = { zone = 3 }
        [control_plane]
        address = "cp.example:99999"
        reconnect_initial_s = 0
        [log]
        level = "loud"
        format = "xml"
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 5
    for where in (
        "agent.labels.zone",
        "control_plane.address",
        "control_plane.reconnect_initial_s",
        "log.level",
        "log.format",
    ):
        assert any(line.startswith(f"{path}: {where}: ") for line in lines), where


def test_missing_required_field_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "[control_plane]\njoin_token = 'tjt_x'\n"))
    assert str(caught.value) == f"{tmp_path / 'agent.toml'}: control_plane.address: Field required"


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "[control_plane]\naddress = 'h:1'\nadress = 'typo:1'\n")
    with pytest.raises(ConfigError, match=r"control_plane\.adress: Extra inputs are not permitted"):
        load_config(path)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "absent.toml")
    assert (
        str(caught.value) == f"{tmp_path / 'absent.toml'}: cannot read: No such file or directory"
    )


def test_toml_syntax_error_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_config(write(tmp_path, "[control_plane\n"))
    assert len(caught.value.lines) == 1


def test_join_token_and_file_are_exclusive(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("tjt_from_file\n")
    path = write(
        tmp_path,
        "[control_plane]\naddress = 'h:1'\njoin_token = 'tjt_x'\n"
        f"join_token_file = '{token_file}'\n",
    )
    with pytest.raises(ConfigError, match="set join_token or join_token_file, not both"):
        load_config(path)


def test_join_token_file_is_read_at_load(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("tjt_from_file\n")
    path = write(tmp_path, f"[control_plane]\naddress = 'h:1'\njoin_token_file = '{token_file}'\n")
    section = load_config(path).control_plane
    assert section.token() == "tjt_from_file"
    assert "tjt_from_file" not in repr(section)


def test_unreadable_token_file_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, f"[control_plane]\naddress = 'h:1'\njoin_token_file = '{tmp_path}/x'\n")
    with pytest.raises(ConfigError, match=r"control_plane\.join_token_file: cannot read"):
        load_config(path)


def test_backoff_max_below_initial_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path, "[control_plane]\naddress = 'h:1'\nreconnect_initial_s = 2\nreconnect_max_s = 1\n"
    )
    with pytest.raises(ConfigError, match="reconnect_max_s must be >= reconnect_initial_s"):
        load_config(path)


@pytest.mark.parametrize("address", ["nohost", ":80", "h:0", "h:x", "h:65536"])
def test_bad_addresses(tmp_path: Path, address: str) -> None:
    with pytest.raises(ConfigError, match=r"control_plane\.address: expected host:port"):
        load_config(write(tmp_path, f"[control_plane]\naddress = '{address}'\n"))


def test_ipv6_address_is_accepted(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[control_plane]\naddress = '[::1]:8767'\n"))
    assert config.control_plane.address == "[::1]:8767"


def test_state_dir_defaults() -> None:
    home = Path("/home/op")
    systemd = {"STATE_DIRECTORY": "/var/lib/torpor-a:/var/lib/other"}
    assert default_state_dir(systemd, 1000, home) == Path("/var/lib/torpor-a")
    assert default_state_dir({}, 0, home) == Path("/var/lib/torpor")
    assert default_state_dir({}, 1000, home) == Path("/home/op/.local/share/torpor")


def test_tls_files_are_read_at_load_and_come_in_pairs(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    path = write(
        tmp_path,
        f"[control_plane]\naddress = 'h:1'\ntls_ca_file = '{tmp_path / 'ca.pem'}'\n"
        f"tls_cert_file = '{tmp_path / 'ca.pem'}'\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "set tls_cert_file and tls_key_file together" in str(caught.value)
    path = write(
        tmp_path, "[control_plane]\naddress = 'h:1'\ntls_ca_file = '/nonexistent/ca.pem'\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "control_plane.tls_ca_file: cannot read /nonexistent/ca.pem" in str(caught.value)


def test_tls_is_on_when_a_ca_or_certificate_is_set(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    plain = load_config(write(tmp_path, "[control_plane]\naddress = 'h:1'\n"))
    assert plain.control_plane is not None and plain.control_plane.tls() is None
    text = f"[control_plane]\naddress = 'h:1'\ntls_ca_file = '{tmp_path / 'ca.pem'}'\n"
    section = load_config(write(tmp_path, text)).control_plane
    assert section is not None
    tls = section.tls()
    assert tls is not None and tls.ca == tmp_path / "ca.pem" and tls.cert is None
