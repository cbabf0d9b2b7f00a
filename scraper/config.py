"""Loading and validating the config: the generic junk rules and the site list.

The generic rules (`scraper/rules.toml`) ship inside the package; the site list is the user's,
`config/sites.toml` in the working directory unless another file is named.

Both files are TOML. Every problem becomes one `ConfigError` naming the file, the line and the
key, e.g. ``config/sites.toml:12: sites[1].article_pattern: bad regex (unbalanced parenthesis)``.
"""

from __future__ import annotations

import math
import re
import string
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

from .errors import ConfigError

DEFAULT_RULES = Path(__file__).with_name("rules.toml")  # package data: installed beside this module
DEFAULT_SITES = Path("config", "sites.toml")  # relative: the working directory's

MAX_PATTERN_LENGTH = 2000
_VARIABLE_REPEAT = re.compile(r"[*+]|\{\d*,\d*\}")  # a repeat whose count the engine may revise
_QUANTIFIER = re.compile(r"(?:[*+?]|\{\d*(?:,\d*)?\})[?+]?")
_PROBE_CHARS = string.printable + "\u00a0\u00e9\u00df\u65e5"


@dataclass(frozen=True)
class LineRule:
    id: str
    reason: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class DomRules:
    drop_tags: tuple[str, ...] = ()
    junk_tokens: frozenset[str] = frozenset()
    drop_roles: frozenset[str] = frozenset()
    drop_selectors: tuple[str, ...] = ()
    link_density: float = 0.7
    link_list_min_links: int = 3


@dataclass(frozen=True)
class Rules:
    """Everything the cleaner knows about junk: generic rules, optionally sharpened by a site."""

    dom: DomRules = DomRules()
    lines: tuple[LineRule, ...] = ()
    stop_headings: tuple[re.Pattern[str], ...] = ()

    def for_site(self, site: "Site | None") -> "Rules":
        if site is None:
            return self
        dom = DomRules(
            drop_tags=self.dom.drop_tags,
            junk_tokens=self.dom.junk_tokens,
            drop_roles=self.dom.drop_roles,
            drop_selectors=self.dom.drop_selectors + site.drop_selectors,
            link_density=self.dom.link_density,
            link_list_min_links=self.dom.link_list_min_links,
        )
        return Rules(dom, self.lines + site.line_rules, self.stop_headings + site.stop_headings)


@dataclass(frozen=True)
class Site:
    name: str
    domains: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    start_urls: tuple[str, ...] = ()
    article_pattern: re.Pattern[str] | None = None
    drop_selectors: tuple[str, ...] = ()
    line_rules: tuple[LineRule, ...] = ()
    stop_headings: tuple[re.Pattern[str], ...] = ()
    max_pages: int | None = None  # per run; None = the global setting
    interval: int | None = None  # seconds between discoveries under `scraper schedule`; None = the global setting

    def owns(self, host: str) -> bool:
        host = host.lower().removeprefix("www.")
        return any(host == d or host.endswith("." + d) for d in self.domains)


@dataclass(frozen=True)
class Settings:
    """Global settings for scheduled runs; every key is optional in `[settings]`."""

    db: str | None = None
    delay: float = 1.0  # seconds between two requests to one host
    concurrency: int = 16  # requests in flight overall
    per_host_concurrency: int = 2
    allow_private_addresses: bool = False
    user_agent: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_bytes: int = 10 * 1024 * 1024
    max_pages_per_site: int = 500  # new articles fetched per site per run
    max_sitemap_depth: int = 3  # sitemap index nesting followed
    max_sitemaps_per_site: int = 100  # sitemap files read per site per run, however many indexes list
    out_dir: str | None = None  # also write .txt/.json files here when set
    learn_boilerplate: bool = True  # learn each site's repeated lines and drop them from its pages
    extract_workers: int | None = None  # extraction processes; None = one per core
    extract_timeout: float = 30.0  # seconds of extraction per page before it is cut off
    # The fleet (`scraper worker` / `scraper schedule` on PostgreSQL):
    interval: int = 900  # seconds between two discoveries of a site
    stalled_after: float = 30.0  # a worker silent this long is dead: its jobs are run again elsewhere
    retry_attempts: int = 3  # retries of a failing article job before it is parked as failed
    retry_wait: float = 60.0  # seconds before the first retry, doubled for each next one


@dataclass(frozen=True)
class Config:
    settings: Settings = field(default_factory=Settings)
    sites: tuple[Site, ...] = ()

    def site_for_url(self, url: str) -> Site | None:
        host = urlsplit(url).hostname or ""
        return next((s for s in self.sites if s.owns(host)), None)

    def site_name(self, url: str) -> str:
        """The name articles from `url` are stored under: its site's, else its host's without www."""
        site = self.site_for_url(url)
        return site.name if site else (urlsplit(url).hostname or "unknown").removeprefix("www.")


# --- loading -------------------------------------------------------------------------------


class _Validator:
    """Reads one TOML file and reports errors with file, line and key."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read config file ({exc})") from None
        try:
            self.data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}:{self._line_of(key)}: {key}: {message}")

    def _line_of(self, key: str) -> int:
        """Best-effort line of a dotted key such as ``sites[2].feeds``: the n-th table header, then the key."""
        lines = self.text.splitlines()
        start = 0
        parts = key.split(".")
        for part in parts[:-1]:
            name, _, index = part.partition("[")
            header = re.compile(rf"\s*\[\[?([\w.]+\.)?{re.escape(name)}\]?\]")
            headers = [i for i in range(start, len(lines)) if header.match(lines[i])]
            n = int(index.rstrip("]")) if index else 0
            if n < len(headers):
                start = headers[n]
        last = parts[-1].partition("[")[0]
        for i in range(start, len(lines)):
            if re.match(rf"\s*{re.escape(last)}\s*=", lines[i]) or re.match(rf"\s*\[\[?{re.escape(last)}\]?\]", lines[i]):
                return i + 1
        return start + 1

    # typed getters ---------------------------------------------------------------------

    def table(self, data: dict, key: str, name: str, allowed: set[str]) -> dict:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        unknown = set(value) - allowed
        if unknown:
            raise self.fail(f"{key}.{sorted(unknown)[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return value

    def get(self, data: dict, key: str, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = data.get(name, default)
        if value is default:
            return value
        # bool is an int in Python; a number setting given as true/false is a mistake.
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
            raise self.fail(f"{key}.{name}" if key else name, f"must be {_kind_name(kind)}, not {type(value).__name__}")
        return value

    def strings(self, data: dict, key: str, name: str) -> tuple[str, ...]:
        value = self.get(data, key, name, list, [])
        if not all(isinstance(v, str) for v in value):
            raise self.fail(f"{key}.{name}", "must be a list of strings")
        return tuple(value)

    def regex(self, key: str, pattern: str, *, whole_line: bool = False) -> re.Pattern[str]:
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise self.fail(key, f"pattern longer than {MAX_PATTERN_LENGTH} characters")
        if _backtracks_catastrophically(pattern):
            raise self.fail(
                key, "a repeated group holding a repeat, (a+)+, or branches that start alike, (a|ab)*, "
                "can backtrack catastrophically; rewrite it (an atomic group (?>...) does not backtrack)",
            )
        try:
            return re.compile(rf"^(?:{pattern})$" if whole_line else pattern, re.IGNORECASE)
        except re.error as exc:
            raise self.fail(key, f"bad regex ({exc})") from None

    def line_rules(self, items: Any, key: str) -> tuple[LineRule, ...]:
        if not isinstance(items, list):
            raise self.fail(key, "must be an array of tables")
        rules = []
        for i, item in enumerate(items):
            k = f"{key}[{i}]"
            if not isinstance(item, dict):
                raise self.fail(k, "must be a table with id, reason, pattern")
            self.table({"x": item}, k, "x", {"id", "reason", "pattern"})
            for name in ("id", "reason", "pattern"):
                if not isinstance(item.get(name), str) or not item[name]:
                    raise self.fail(f"{k}.{name}", "is required and must be a non-empty string")
            rules.append(LineRule(item["id"], item["reason"], self.regex(f"{k}.pattern", item["pattern"])))
        return tuple(rules)

    def selectors(self, data: dict, key: str, name: str) -> tuple[str, ...]:
        from selectolax.lexbor import LexborHTMLParser

        selectors = self.strings(data, key, name)
        probe = LexborHTMLParser("<p></p>")
        for i, selector in enumerate(selectors):
            try:
                probe.css(selector)
            except Exception:  # selectolax raises a bare exception type for bad CSS
                raise self.fail(f"{key}.{name}[{i}]", f"bad CSS selector {selector!r}") from None
        return selectors


# --- patterns that backtrack catastrophically ---------------------------------------------------
# Patterns come from config files people edit and run over text strangers wrote, and Python's re
# cannot be interrupted. So the shapes that take exponential time are refused at load: a repeated
# group holding a variable repeat, (a+)+ or (.*a){20}, and a repeated group whose branches can start
# with the same character, (a|ab)*. A false alarm costs a rewrite; a miss could hang a run.


def _backtracks_catastrophically(pattern: str) -> bool:
    opened: list[int] = []
    for i, char in _syntax(pattern):
        if char == "(":
            opened.append(i)
        elif char == ")" and opened:
            body, after = pattern[opened.pop() + 1 : i], pattern[i + 1 :]
            if body.startswith("?>") or not after.startswith(("*", "+", "{")):  # atomic, or not repeated
                continue
            if _has_variable_repeat(body) or (_VARIABLE_REPEAT.match(after) and _branches_overlap(body)):
                return True
    return False


def _syntax(pattern: str) -> Iterator[tuple[int, str]]:
    """(index, char) of the pattern's syntax characters: escapes and [classes] are skipped whole."""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _class_end(pattern, i)
            continue
        yield i, char
        i += 1


def _class_end(pattern: str, start: int) -> int:
    """Index just after the character class opening at `start` ([]a] and [^]a] hold a literal ])."""
    i = start + 1 + (pattern[start + 1 : start + 2] == "^")
    i += pattern[i : i + 1] == "]"
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def _has_variable_repeat(body: str) -> bool:
    """A variable repeat inside whose characters could also begin the group's next round: (a+)+, (\\w+\\s?)*.

    When they cannot, as in (?:(?:share|tweet)[\\s,]*){1,12}, each round's end is plain and there
    is nothing to backtrack over.
    """
    starts = _first_chars(_branches(body))
    return any(_first_chars([atom]) & starts for atom in _repeated_atoms(body))


def _repeated_atoms(body: str) -> Iterator[str]:
    """The atoms of `body` under a variable, backtracking repeat (a nested group counts as '(')."""
    i = 2 if body.startswith("?:") else 0
    while i < len(body):
        char = body[i]
        if char == "(":
            end = _group_end(body, i)
        else:
            end = _class_end(body, i) if char == "[" else i + 2 if char == "\\" else i + 1
        atom, i = body[i:end], end
        repeat = _QUANTIFIER.match(body, i)
        if repeat:
            i = repeat.end()
            if _VARIABLE_REPEAT.match(repeat[0]) and not repeat[0].endswith("+", 1):  # a++ never gives back
                yield atom


def _branches(body: str) -> list[str]:
    depth, cuts = 0, [-1]
    for i, char in _syntax(body):
        depth += (char == "(") - (char == ")")
        if char == "|" and depth == 0:
            cuts.append(i)
    return [body[a + 1 : b].removeprefix("?:") for a, b in zip(cuts, [*cuts[1:], len(body)])]


def _group_end(pattern: str, start: int) -> int:
    """Index just after the group opening at `start`."""
    depth = 0
    for j, char in _syntax(pattern[start:]):
        depth += (char == "(") - (char == ")")
        if depth == 0:
            return start + j + 1
    return len(pattern)


def _first_chars(branches: list[str]) -> set[str]:
    """The probe characters some branch may begin with (all of them when we cannot tell)."""
    return set().union(*(_branch_first_chars(b) for b in branches))


def _branch_first_chars(branch: str) -> set[str]:
    if not branch:
        return set()
    if branch.startswith(("^", "$", "\\b", "\\B", "\\A", "\\Z")):  # zero-width: look past it
        return _branch_first_chars(branch[1 if branch[0] in "^$" else 2 :])
    if branch[0] == "(":
        end = _group_end(branch, 0)
        inner, after = branch[1 : end - 1], branch[end:]
        if inner.startswith(("?=", "?!", "?<", "?P")) or after[:1] in ("?", "*", "{"):  # may match nothing
            return set(_PROBE_CHARS)
        return _first_chars(_branches(inner.removeprefix("?>")))
    end = _class_end(branch, 0) if branch[0] == "[" else 2 if branch[0] == "\\" else 1
    try:
        first = re.compile(branch[:end], re.I | re.S)
    except re.error:  # a back-reference or such: assume the worst
        return set(_PROBE_CHARS)
    chars = {c for c in _PROBE_CHARS if first.fullmatch(c)}
    optional = _QUANTIFIER.match(branch, end)
    if optional and optional[0].startswith(("?", "*", "{0", "{,")):  # a?b may begin with b too
        chars |= _branch_first_chars(branch[optional.end() :])
    return chars


def _branches_overlap(body: str) -> bool:
    matched = [_first_chars([b]) for b in _branches(body)]
    return len(matched) > 1 and any(a & b for n, a in enumerate(matched) for b in matched[n + 1 :])


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))


def load_rules(path: Path | str = DEFAULT_RULES) -> Rules:
    v = _Validator(Path(path))
    data = v.data
    unknown = set(data) - {"dom", "stop_headings", "line"}
    if unknown:
        raise v.fail(sorted(unknown)[0], "unknown key (allowed: dom, stop_headings, line)")
    dom = v.table(data, "dom", "dom", {"drop_tags", "junk_tokens", "drop_roles", "drop_selectors", "link_density", "link_list_min_links"})
    headings = v.table(data, "stop_headings", "stop_headings", set(_LANGUAGES))
    stop = tuple(
        v.regex(f"stop_headings.{lang}[{i}]", p, whole_line=True)
        for lang in headings
        for i, p in enumerate(v.strings(headings, "stop_headings", lang))
    )
    return Rules(
        dom=DomRules(
            drop_tags=v.strings(dom, "dom", "drop_tags"),
            junk_tokens=frozenset(t.lower() for t in v.strings(dom, "dom", "junk_tokens")),
            drop_roles=frozenset(v.strings(dom, "dom", "drop_roles")),
            drop_selectors=v.selectors(dom, "dom", "drop_selectors"),
            link_density=float(v.get(dom, "dom", "link_density", (int, float), 0.7)),
            link_list_min_links=v.get(dom, "dom", "link_list_min_links", int, 3),
        ),
        lines=v.line_rules(data.get("line", []), "line"),
        stop_headings=stop,
    )


_LANGUAGES = ("en", "de", "fr", "es", "pt", "id", "ms", "it", "nl")
_SITE_KEYS = {
    "name", "domains", "feeds", "sitemaps", "start_urls", "article_pattern",
    "drop_selectors", "line_patterns", "stop_headings", "max_pages", "interval",
}


def load_config(path: Path | str = DEFAULT_SITES) -> Config:
    v = _Validator(Path(path))
    unknown = set(v.data) - {"settings", "sites"}
    if unknown:
        raise v.fail(sorted(unknown)[0], "unknown key (allowed: settings, sites)")
    raw = v.table(v.data, "settings", "settings", {f.name for f in fields(Settings)})
    settings = Settings(**{f.name: _setting(v, raw, f.name, f.type) for f in fields(Settings) if f.name in raw})
    sites_raw = v.data.get("sites", [])
    if not isinstance(sites_raw, list):
        raise v.fail("sites", "must be an array of tables ([[sites]])")
    sites, names = [], set()
    for i, item in enumerate(sites_raw):
        key = f"sites[{i}]"
        site = v.table({"s": item}, key, "s", _SITE_KEYS)
        name = v.get(site, key, "name", str)
        if not name:
            raise v.fail(f"{key}.name", "is required")
        if name in names:
            raise v.fail(f"{key}.name", f"duplicate site name {name!r}")
        names.add(name)
        urls = {k: v.strings(site, key, k) for k in ("feeds", "sitemaps", "start_urls")}
        for k, values in urls.items():
            for j, url in enumerate(values):
                if not re.match(r"https?://[^/\s]+", url):
                    raise v.fail(f"{key}.{k}[{j}]", f"not an http(s) URL: {url!r}")
        domains = v.strings(site, key, "domains") or _domains_from(urls)
        pattern = v.get(site, key, "article_pattern", str)
        sites.append(
            Site(
                name=name,
                domains=tuple(d.lower().removeprefix("www.") for d in domains),
                article_pattern=v.regex(f"{key}.article_pattern", pattern) if pattern else None,
                drop_selectors=v.selectors(site, key, "drop_selectors"),
                line_rules=v.line_rules(site.get("line_patterns", []), f"{key}.line_patterns"),
                stop_headings=tuple(
                    v.regex(f"{key}.stop_headings[{j}]", p, whole_line=True)
                    for j, p in enumerate(v.strings(site, key, "stop_headings"))
                ),
                max_pages=_max_pages(v, site, key),
                interval=_interval(v, site, key),
                **urls,
            )
        )
        if not any(urls.values()):
            raise v.fail(f"{key}.feeds", f"site {name!r} has no feeds, sitemaps or start_urls: a run would find nothing")
    return Config(settings, tuple(sites))


def _max_pages(v: _Validator, site: dict, key: str) -> int | None:
    pages = v.get(site, key, "max_pages", int)
    if pages is not None:
        _check_minimum(v, f"{key}.max_pages", pages, 1)
    return pages


def _setting(v: _Validator, raw: dict, name: str, annotation: str) -> Any:
    kinds: dict[str, tuple[type, ...]] = {
        "float": (int, float), "int": (int,), "bool": (bool,), "str | None": (str,), "int | None": (int,),
    }
    value = v.get(raw, "settings", name, kinds.get(annotation, (str,)))
    if name == "interval":
        return _interval(v, raw, "settings")
    if name in _SETTING_MINIMUM:
        _check_minimum(v, f"settings.{name}", value, _SETTING_MINIMUM[name], above=name in _ABOVE_MINIMUM)
    return float(value) if annotation == "float" else value


# The least value of each number setting (interval is checked on its own). A limit of 0 pages or
# sitemaps would make every run do nothing; a timeout of 0 would never wait.
_SETTING_MINIMUM: dict[str, int] = {
    "delay": 0, "concurrency": 1, "per_host_concurrency": 1, "max_bytes": 1, "max_pages_per_site": 1,
    "max_sitemap_depth": 0, "max_sitemaps_per_site": 1, "connect_timeout": 0, "read_timeout": 0, "total_timeout": 0,
    "stalled_after": 1, "retry_attempts": 0, "retry_wait": 0, "extract_workers": 1, "extract_timeout": 0,
}
_ABOVE_MINIMUM = {"connect_timeout", "read_timeout", "total_timeout", "extract_timeout"}  # the least itself is refused


def _check_minimum(v: _Validator, key: str, value: int | float, least: int, *, above: bool = False) -> None:
    """Refuse a number below `least` (or equal to it, when `above`), and inf or nan, which TOML allows."""
    if not math.isfinite(value) or value < least or (above and value == least):
        raise v.fail(key, f"must be {'more than' if above else 'at least'} {least}, not {value!r}")


def _interval(v: _Validator, table: dict, key: str) -> int | None:
    seconds = v.get(table, key, "interval", int)
    if seconds is not None and interval_cron(seconds) is None:
        raise v.fail(f"{key}.interval", f"{seconds} s does not divide a minute, an hour or a day evenly (e.g. 30, 300, 900, 3600)")
    return seconds


def interval_cron(seconds: int) -> str | None:
    """A cron line (seconds in a 6th column) firing every `seconds`, or None if cron cannot say it evenly."""
    for unit, span, line in ((1, 60, "* * * * * */{}"), (60, 60, "*/{} * * * *"), (3600, 24, "0 */{} * * *")):
        if seconds % unit == 0 and 0 < seconds // unit < span and span % (seconds // unit) == 0:
            return line.format(seconds // unit)
    return "0 0 * * *" if seconds == 86400 else None


def _domains_from(urls: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    from urllib.parse import urlsplit

    hosts = {(urlsplit(u).hostname or "").removeprefix("www.") for values in urls.values() for u in values}
    return tuple(sorted(h for h in hosts if h))
