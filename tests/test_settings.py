"""Settings: defaults, and one clear line naming the variable for each bad value."""

from pathlib import Path

import pytest

from services.cli import main
from shared.settings import SettingsError, load_settings


def test_defaults_follow_the_spec() -> None:
    s = load_settings({})
    assert (s.api_port, s.feed_port, s.worker_metrics_port) == (8000, 8001, 8002)
    assert s.host == "127.0.0.1"
    assert s.data_dir == Path(".lowkey")
    assert s.public_url == "http://127.0.0.1:8000"
    assert s.feed_base_url == "http://127.0.0.1:8001"
    assert s.database_url is None and s.redis_url is None
    assert s.admin_key is None and s.log_level == "info"


def test_public_urls_follow_custom_ports() -> None:
    s = load_settings({"LOWKEY_API_PORT": "9000", "LOWKEY_FEED_PORT": "9001"})
    assert s.public_url == "http://127.0.0.1:9000"
    assert s.feed_base_url == "http://127.0.0.1:9001"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"LOWKEY_API_PORT": "http"}, "LOWKEY_API_PORT"),
        ({"LOWKEY_FEED_PORT": "70000"}, "LOWKEY_FEED_PORT"),
        ({"LOWKEY_WORKER_METRICS_PORT": "0"}, "LOWKEY_WORKER_METRICS_PORT"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"LOWKEY_LOG_LEVEL": "loud"}, "LOWKEY_LOG_LEVEL"),
        ({"LOWKEY_FEED_BASE_URL": "feeds.example"}, "LOWKEY_FEED_BASE_URL"),
        ({"LOWKEY_PUBLIC_URL": "ftp://x"}, "LOWKEY_PUBLIC_URL"),
        ({"LOWKEY_ADMIN_KEY": "short"}, "LOWKEY_ADMIN_KEY"),
        ({"LOWKEY_SECRET_KEY": "short"}, "LOWKEY_SECRET_KEY"),
        ({"LOWKEY_GEOCODER": "carrier-pigeon"}, "LOWKEY_GEOCODER"),
        ({"LOWKEY_TRUSTED_PROXIES": "10.0.0.1,not-an-ip"}, "LOWKEY_TRUSTED_PROXIES"),
    ],
)
def test_bad_value_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    message = str(info.value)
    assert message.startswith(f"{variable}:")
    assert "\n" not in message


def test_secret_values_are_never_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"LOWKEY_ADMIN_KEY": "hunter2"})
    assert "hunter2" not in str(info.value)


def test_cli_stops_with_one_line_on_a_bad_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"], env={"LOWKEY_API_PORT": "eighty"}) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["lowkey: LOWKEY_API_PORT: must be a port number 1-65535, got 'eighty'"]


def test_api_refuses_to_start_without_admin_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["api"], env={"LOWKEY_SECRET_KEY": "s" * 32}) == 1
    assert "LOWKEY_ADMIN_KEY" in capsys.readouterr().err
