"""Config files: the shipped ones load; broken ones give one error naming file, line and key."""

from __future__ import annotations

from dataclasses import fields

import pytest

from scraper.config import DEFAULT_RULES, DEFAULT_SITES, Settings, load_config, load_rules
from scraper.errors import ConfigError

from .conftest import ROOT


def test_shipped_config_loads():
    config = load_config(ROOT / DEFAULT_SITES)  # the repo's sample sites.toml
    assert {s.name for s in config.sites} >= {"thestar", "businesstimes", "anewz"}
    assert config.site_for_url("https://www.thestar.com.my/news/x").name == "thestar"
    rules = load_rules(DEFAULT_RULES)
    assert rules.lines and rules.stop_headings and rules.dom.junk_tokens


FEED = 'feeds = ["https://a.example/feed"]\n'


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
        (f'[[sites]]\nname = "a"\n{FEED}\n[[sites]]\nname = "b"\narticle_pattern = "(unclosed"\n', 7, "sites[1].article_pattern"),
        ('[[sites]]\nname = "a"\narticle_pattern = "(a+)+$"\n', 3, "sites[0].article_pattern"),
        ('[[sites]]\nname = "a"\nfeeds = ["ftp://x/feed"]\n', 3, "sites[0].feeds[0]"),
        ('[[sites]]\nname = "a"\ndrop_selectors = ["div[[["]\n', 3, "sites[0].drop_selectors[0]"),
        (f'[[sites]]\nname = "a"\n{FEED}[[sites]]\nname = "a"\n', 5, "sites[1].name"),
        ('[[sites]]\nname = "a"\n[[sites.line_patterns]]\nid = "x"\nreason = "y"\n', 3, "sites[0].line_patterns[0].pattern"),
        (f'[[sites]]\nname = "a"\n{FEED}max_pages = -5\n', 4, "sites[0].max_pages"),
        (f'[[sites]]\nname = "a"\n{FEED}max_pages = 0\n', 4, "sites[0].max_pages"),
        ("[settings]\nmax_pages_per_site = 0\n", 2, "settings.max_pages_per_site"),
        ("[settings]\nmax_sitemaps_per_site = 0\n", 2, "settings.max_sitemaps_per_site"),
        ("[settings]\ndelay = inf\n", 2, "settings.delay"),
        ("[settings]\nread_timeout = inf\n", 2, "settings.read_timeout"),
        (f'[[sites]]\nname = "a"\n{FEED}\n[[sites]]\nname = "b"\ndomains = ["b.example"]\n', 5, "sites[1].feeds"),
        ('[[sites]]\nname = "a"\nfeeds = []\nsitemaps = []\n', 3, "sites[0].feeds"),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path, text, line, key):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: {key}:"), message
    assert "\n" not in message


@pytest.mark.parametrize("name", [f.name for f in fields(Settings) if f.type in ("int", "float", "int | None")])
def test_every_number_setting_refuses_a_negative_value(tmp_path, name):
    with pytest.raises(ConfigError, match=rf":2: settings\.{name}: "):
        load_config(_write(tmp_path, f"[settings]\n{name} = -1\n"))


def test_a_site_without_a_source_says_which_sources_it_lacks(tmp_path):
    with pytest.raises(ConfigError, match="no feeds, sitemaps or start_urls"):
        load_config(_write(tmp_path, '[[sites]]\nname = "a"\n'))


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(_write(tmp_path, "[settings\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
