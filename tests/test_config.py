"""Settings: defaults, secrets over environment, clear errors, and keys that never show."""
from pathlib import Path

import pytest

from lib.core.errors import ConfigError
from lib.service.config import Settings, load_settings

VIDU_KEY = "vda_FAKE_KEY_recognisable_7f3a9c"
KLING_AK = "AK_FAKE_recognisable_41d2"
KLING_SK = "SK_FAKE_recognisable_88e0b1"
KLING_KEY = "KLING_API_FAKE_recognisable_5c6d"
WEBHOOK = "whsec_FAKErecognisable0000"
PASSWORD = "PASSWORD_FAKE_recognisable_9911"
SECRETS = (VIDU_KEY, KLING_AK, KLING_SK, KLING_KEY, WEBHOOK, PASSWORD)


def test_defaults():
    settings = load_settings({})
    assert settings == Settings()
    assert (settings.vidu_profile, settings.kling_region) == ("vidu-global", "singapore")
    assert settings.data_dir == Path("./data") and settings.task_timeout == 3600
    assert not settings.vidu_live and not settings.kling_live


def test_everything_from_the_environment():
    settings = load_settings({
        "VIDU_API_KEY": VIDU_KEY, "VIDU_PROFILE": "kkiai", "VIDU_BASE_URL": "http://127.0.0.1:8000",
        "KLING_ACCESS_KEY": KLING_AK, "KLING_SECRET_KEY": KLING_SK, "KLING_REGION": "beijing",
        "KLING_BASE_URL": "http://127.0.0.1:8001", "KLING_WEBHOOK_SECRET": WEBHOOK,
        "STUDIO_DATA_DIR": "/tmp/cue", "STUDIO_PASSWORD": PASSWORD, "STUDIO_PUBLIC_URL": "https://cue.example/",
        "STUDIO_TASK_TIMEOUT": "600",
    })
    assert settings.vidu_api_key == VIDU_KEY and settings.vidu_profile == "kkiai"
    assert settings.vidu_base_url == "http://127.0.0.1:8000" and settings.kling_base_url == "http://127.0.0.1:8001"
    assert (settings.kling_access_key, settings.kling_secret_key, settings.kling_region) == (KLING_AK, KLING_SK,
                                                                                             "beijing")
    assert settings.kling_webhook_secret == WEBHOOK and settings.password == PASSWORD
    assert settings.data_dir == Path("/tmp/cue") and settings.public_url == "https://cue.example"
    assert settings.task_timeout == 600 and settings.vidu_live and settings.kling_live


def test_secrets_win_over_the_environment():
    settings = load_settings({"VIDU_API_KEY": "from-env", "VIDU_PROFILE": "vidu-cn", "KLING_API_KEY": "env-k"},
                             {"VIDU_API_KEY": VIDU_KEY, "KLING_REGION": "beijing"})
    assert settings.vidu_api_key == VIDU_KEY  # secret wins
    assert settings.vidu_profile == "vidu-cn"  # env fills what secrets lack
    assert settings.kling_region == "beijing" and settings.kling_api_key == "env-k"


def test_empty_values_count_as_unset_and_whitespace_is_trimmed():
    settings = load_settings({"VIDU_API_KEY": f"  {VIDU_KEY}\n", "VIDU_PROFILE": ""}, {"VIDU_API_KEY": " "})
    assert settings.vidu_api_key == VIDU_KEY and settings.vidu_profile == "vidu-global"


def test_non_text_secret_values_are_read_as_text():
    assert load_settings({}, {"STUDIO_TASK_TIMEOUT": 90}).task_timeout == 90


@pytest.mark.parametrize("values, live", [
    ({"KLING_API_KEY": KLING_KEY}, True),
    ({"KLING_ACCESS_KEY": KLING_AK, "KLING_SECRET_KEY": KLING_SK}, True),
    ({}, False),
])
def test_kling_live(values, live):
    assert load_settings(values).kling_live is live


@pytest.mark.parametrize("values, words", [
    ({"VIDU_PROFILE": "vidu-eu"}, "VIDU_PROFILE must be one of: vidu-global, vidu-cn, kkiai"),
    ({"KLING_REGION": "tokyo"}, "KLING_REGION must be one of: singapore, beijing"),
    ({"KLING_ACCESS_KEY": KLING_AK}, "KLING_ACCESS_KEY and KLING_SECRET_KEY work only as a pair"),
    ({"KLING_SECRET_KEY": KLING_SK}, "KLING_ACCESS_KEY and KLING_SECRET_KEY work only as a pair"),
    ({"VIDU_BASE_URL": "api.vidu.com"}, "VIDU_BASE_URL must be a web address"),
    ({"STUDIO_TASK_TIMEOUT": "soon"}, "STUDIO_TASK_TIMEOUT must be a number of seconds above 0"),
])
def test_clear_errors(values, words):
    with pytest.raises(ConfigError) as raised:
        load_settings(values)
    assert words in str(raised.value)
    assert not any(secret in str(raised.value) for secret in SECRETS)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as raised:
        load_settings({"VIDU_PROFILE": "x", "KLING_REGION": "y", "KLING_ACCESS_KEY": KLING_AK})
    assert str(raised.value).count("must") == 2 and "pair" in str(raised.value)


def test_keys_never_show_in_repr_or_str():
    settings = load_settings({"VIDU_API_KEY": VIDU_KEY, "KLING_ACCESS_KEY": KLING_AK, "KLING_SECRET_KEY": KLING_SK,
                              "KLING_API_KEY": KLING_KEY, "KLING_WEBHOOK_SECRET": WEBHOOK,
                              "STUDIO_PASSWORD": PASSWORD})
    for text in (repr(settings), str(settings), f"{settings}", repr([settings])):
        assert not any(secret in text for secret in SECRETS)
    assert "vidu_api_key='***'" in repr(settings) and "vidu_profile='vidu-global'" in repr(settings)
    assert "kling_api_key=None" in repr(Settings())  # unset keys say so
