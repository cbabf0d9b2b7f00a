"""Config files: the shipped ones load; broken ones give one error naming file, line and key."""

from __future__ import annotations

import pytest

from scraper.config import DEFAULT_RULES, DEFAULT_SITES, load_config, load_rules
from scraper.errors import ConfigError

from .conftest import ROOT


def test_shipped_config_loads():
    config = load_config(ROOT / DEFAULT_SITES)  # the repo's sample sites.toml
    assert {s.name for s in config.sites} >= {"thestar", "businesstimes", "anewz"}
    assert config.site_for_url("https://www.thestar.com.my/news/x").name == "thestar"
    rules = load_rules(DEFAULT_RULES)
    assert rules.lines and rules.stop_headings and rules.dom.junk_tokens


def _write(tmp_path, text):
    path = tmp_path / "sites.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, line, key",
    [
        ('[settings]\ndelay = "slow"\n', 2, "settings.delay"),
        ("[settings]\nconcurrency = 0\n", 2, "settings.concurrency"),
        ("[settings]\nbogus = 1\n", 2, "settings.bogus"),
        ('[[sites]]\nname = "a"\n\n[[sites]]\nname = "b"\narticle_pattern = "(unclosed"\n', 6, "sites[1].article_pattern"),
        ('[[sites]]\nname = "a"\narticle_pattern = "(a+)+$"\n', 3, "sites[0].article_pattern"),
        ('[[sites]]\nname = "a"\nfeeds = ["ftp://x/feed"]\n', 3, "sites[0].feeds[0]"),
        ('[[sites]]\nname = "a"\ndrop_selectors = ["div[[["]\n', 3, "sites[0].drop_selectors[0]"),
        ('[[sites]]\nname = "a"\n[[sites]]\nname = "a"\n', 4, "sites[1].name"),
        ('[[sites]]\nname = "a"\n[[sites.line_patterns]]\nid = "x"\nreason = "y"\n', 3, "sites[0].line_patterns[0].pattern"),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path, text, line, key):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: {key}:"), message
    assert "\n" not in message


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(_write(tmp_path, "[settings\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
