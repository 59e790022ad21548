"""RemoteEngineConfig: what a person may type as an engine, and what is refused with why."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llmos_desktop.core.chat.options import ENGINE_NAME_PATTERN
from llmos_desktop.core.engines.types import NAME_PATTERN, RemoteEngineConfig, origin_of


def test_a_typical_engine_and_its_defaults() -> None:
    config = RemoteEngineConfig(name="gpu-box", base_url="https://gpu-box.lan:8000/v1/")
    assert config.base_url == "https://gpu-box.lan:8000/v1"  # the slash a person adds is gone
    assert config.verify_tls is True
    assert config.timeout_s >= 60  # a slow server's first token is not a stall
    assert config.origin == ("https", "gpu-box.lan", 8000)
    assert not config.is_loopback


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://host/v1", "http:// or https://"),
        ("host:8000/v1", "http:// or https://"),
        ("http://user:secret@host/v1", "not in the URL"),
        ("http://host/v1?key=abc", "query"),
        ("http://host/v1#x", "query"),
        ("http:///v1", "no host"),
        ("http://host:99999/v1", "not a URL"),
        ("http://host/v 1", "spaces"),
    ],
)
def test_a_bad_url_is_refused_with_the_reason(url: str, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RemoteEngineConfig(name="x", base_url=url)
    assert says in caught.value.errors()[0]["msg"]


@pytest.mark.parametrize("name", ["", "-x", "a b", "x/y", "é", "a" * 65, "../keys"])
def test_a_bad_name_is_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        RemoteEngineConfig(name=name, base_url="http://h/v1")


def test_values_are_strict_and_bounded() -> None:
    good = {"name": "x", "base_url": "http://h/v1"}
    for bad in (
        {"timeout_s": "30"},  # a string is not a number here
        {"timeout_s": 0.1},
        {"timeout_s": 100_000},
        {"connect_timeout_s": 0},
        {"verify_tls": "yes"},
        {"api_key": "sk-1"},  # keys never live in the configuration
        {"ca_file": "a\nb"},
    ):
        with pytest.raises(ValidationError):
            RemoteEngineConfig.model_validate({**good, **bad})
    assert RemoteEngineConfig.model_validate({**good, "timeout_s": 30}).timeout_s == 30.0


def test_origin_is_what_a_key_belongs_to() -> None:
    assert origin_of("http://Host:80/v1") == ("http", "host", 80)
    assert origin_of("https://host/v1") == ("https", "host", 443)
    assert origin_of("http://host/v1") != origin_of("https://host/v1")
    assert RemoteEngineConfig(name="l", base_url="http://127.0.0.1:9/v1").is_loopback
    assert RemoteEngineConfig(name="l", base_url="http://localhost:9/v1").is_loopback


def test_the_chat_options_take_the_same_engine_names() -> None:
    assert ENGINE_NAME_PATTERN == NAME_PATTERN
