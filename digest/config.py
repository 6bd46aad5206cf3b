"""Configuration: a commented TOML file, defaults for everything, DIGEST_* environment overrides."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from digest.errors import ConfigError

DEFAULT_CONFIG_NAME = "digest.toml"


@dataclass
class StoreConfig:
    archive_dir: str = "archive"
    path: str = ""  # default: <archive_dir>/digest.sqlite
    cache_dir: str = ""  # default: <archive_dir>/cache


@dataclass
class ArxivConfig:
    rss_url: str = "https://rss.arxiv.org/rss/{categories}"
    api_url: str = "https://export.arxiv.org/api/query"
    pdf_url: str = "https://arxiv.org/pdf/{id}"
    abs_url: str = "https://arxiv.org/abs/{id}"
    api_delay_seconds: float = 3.0  # arXiv's terms: one API request every 3 s
    api_page_size: int = 100
    api_max_pages: int = 10  # requests one arxiv-query: search makes at most (each api_delay_seconds apart)
    api_max_ids: int = 1000  # arXiv IDs one source looks up at most (api_page_size a request); a list: is cut there


@dataclass
class SelectionConfig:
    max_papers: int = 10
    include_keywords: list[str] = field(default_factory=list)
    exclude_keywords: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    announce_types: list[str] = field(default_factory=lambda: ["new", "cross"])
    interests: str = ""
    liked: list[str] = field(default_factory=list)  # list: specs of papers the owner liked
    pool_max: int = 30  # papers written up per week once a reader has interests: the editor's issue, then what readers rank high
    rerank_model: str = ""  # a chat model that re-orders the top candidates once a week, with reasons; "" = off


@dataclass
class LimitsConfig:
    http_timeout: float = 30.0  # seconds to connect, and per read
    # Seconds a whole feed or arXiv API request may take, body and retries included: a server that
    # trickles bytes never trips the per-read timeout.
    http_deadline: float = 60.0
    feed_max_mb: float = 50.0  # decompressed size cap of a feed or an arXiv API answer
    pdf_max_mb: float = 50.0
    pdf_download_timeout: float = 120.0
    pdf_parse_timeout: float = 120.0
    pdf_parse_memory_mb: int = 1536
    workers: int = 2


@dataclass
class ModelConfig:
    """Settings of one model; unknown models get these defaults."""

    base_url: str = ""  # empty: OpenAI (or OPENAI_BASE_URL)
    api_key_env: str = "OPENAI_API_KEY"
    api_model: str = ""  # the name the server knows, when it differs from our id
    context_window: int = 128_000
    max_output_tokens: int = 4096
    price_input: float = 0.0  # USD per million tokens
    price_cached_input: float = 0.0
    price_output: float = 0.0
    rpm: int = 0  # requests per minute; 0 = unlimited
    tpm: int = 0  # tokens per minute; 0 = unlimited
    response_format: str = "json_schema"  # json_schema, json_object, none
    schema_bounds: str = "auto"  # auto, all, openai, none: which maxLength/maxItems-like keywords are sent
    encoding: str = ""  # tiktoken encoding; empty: guess from the model id
    timeout: float = 120.0  # seconds for one HTTP attempt
    deadline: float = 0.0  # seconds for one call with all its retries; 0: three times the timeout
    temperature: float | None = 0.2
    azure_api_version: str = ""  # set for Azure OpenAI


@dataclass
class LLMConfig:
    model: str = "extractive"
    concurrency: int = 8
    max_cost: float = 2.0
    max_retries: int = 5
    unverified: str = "mark"  # mark or drop
    support_judge: bool = False  # one extra call per paper: does each answer's quote support it?
    support_model: str = ""  # the judge's model; empty: the run's model
    max_failed_share: float = 0.5  # more papers than this failed by the model: the issue is a draft, not sent
    prompts_dir: str = ""
    keys_file: str = ""


@dataclass
class OutputConfig:
    language: str = "en"
    title: str = "Paper digest"
    archive_url: str = ""  # public URL of the archive site, for links in mail and feeds


@dataclass
class MailConfig:
    host: str = "localhost"
    port: int = 587
    security: str = "starttls"  # starttls, ssl, none
    username: str = ""
    password_env: str = "DIGEST_SMTP_PASSWORD"
    sender: str = "Paper digest <digest@example.org>"
    reply_to: str = ""
    list_id: str = "paper-digest.example.org"
    unsubscribe_mailto: str = ""
    unsubscribe_url: str = ""  # e.g. https://digest.example.org/unsubscribe/{token}
    per_minute: int = 60
    connections: int = 1  # SMTP connections sending at once; per_minute holds across all of them
    bounce_after: int = 3
    timeout: float = 30.0
    edition: str = "compact"  # compact: per paper the TL;DR, summary and best answers; full: every answer
    answers: int = 2  # answers per paper in the compact edition, verified ones first


@dataclass
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8025
    public_url: str = ""  # base URL used in confirmation links


@dataclass
class AskConfig:
    """`digest serve`'s Ask page: what readers' questions may spend, and how often one reader may ask."""

    max_usd_per_day: float = 1.0  # a question whose most possible cost would pass this (UTC day) is refused
    per_client_per_minute: int = 6  # questions one client address may ask a minute (a burst of this many)


CHANNEL_KINDS = ("slack", "discord", "teams", "webhook")
CHANNEL_MODES = ("digest", "per-paper")


@dataclass
class ChannelConfig:
    """One `[[channels]]` table: a chat webhook the issue is posted to."""

    name: str = ""
    kind: str = ""  # slack, discord, teams, webhook
    url_env: str = ""  # the NAME of the environment variable holding the webhook URL (a secret)
    mode: str = "digest"  # digest: one message with the TL;DR list; per-paper: a message per paper
    timeout: float = 10.0  # seconds to connect, and per read


@dataclass
class Config:
    store: StoreConfig = field(default_factory=StoreConfig)
    sources: list[str] = field(default_factory=list)
    arxiv: ArxivConfig = field(default_factory=ArxivConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    models: dict[str, ModelConfig] = field(default_factory=dict)
    output: OutputConfig = field(default_factory=OutputConfig)
    mail: MailConfig = field(default_factory=MailConfig)
    web: WebConfig = field(default_factory=WebConfig)
    ask: AskConfig = field(default_factory=AskConfig)
    channels: list[ChannelConfig] = field(default_factory=list)
    path: Path | None = None  # the file it was read from; relative paths are resolved against its folder

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def resolve(self, p: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        q = Path(p).expanduser()
        return q if q.is_absolute() else self.base_dir / q

    @property
    def archive_dir(self) -> Path:
        return self.resolve(self.store.archive_dir)

    @property
    def db_path(self) -> Path:
        return self.resolve(self.store.path) if self.store.path else self.archive_dir / "digest.sqlite"

    @property
    def cache_dir(self) -> Path:
        return self.resolve(self.store.cache_dir) if self.store.cache_dir else self.archive_dir / "cache"

    def model(self, model_id: str) -> ModelConfig:
        """Settings for a model id; unknown ids get the defaults."""
        return self.models.get(model_id) or ModelConfig()


# Settings that must be positive (a zero or negative value would hang, divide by zero or do nothing).
_POSITIVE = {"max_papers", "concurrency", "workers", "http_timeout", "pdf_max_mb", "pdf_download_timeout",
             "pdf_parse_timeout", "pdf_parse_memory_mb", "context_window", "max_output_tokens", "timeout",
             "api_page_size", "api_max_pages", "api_max_ids", "port", "per_client_per_minute",
             "connections"}
_SHARES = {"max_failed_share"}


@functools.cache
def _adapter(cls):
    # pydantic costs a fifth of a second to import: only a command that reads a config file pays it.
    from pydantic import TypeAdapter

    return TypeAdapter(cls)


def _build(cls, data: dict[str, Any], where: str):
    """A settings dataclass from a TOML table, type-checked: a wrong value names its key."""
    known = {f.name for f in dataclasses.fields(cls)}
    for k in data:
        if k not in known:
            raise ConfigError(f"unknown setting '{where}.{k}'", hint="see `digest init` for the settings")
    from pydantic import ValidationError  # only when a config file is read: see _adapter

    try:
        built = _adapter(cls).validate_python(data, strict=False)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in (where, *err["loc"]))
        raise ConfigError(f"setting '{key}' = {err.get('input')!r}: {err['msg'].lower()}",
                          hint="fix it in the config file (`digest init` writes one with every setting)") from None
    for k in known & _POSITIVE:
        v = getattr(built, k)
        if isinstance(v, (int, float)) and v <= 0:
            raise ConfigError(f"setting '{where}.{k}' = {v!r}: must be greater than 0")
    for k in known & _SHARES:
        if not 0 <= getattr(built, k) <= 1:
            raise ConfigError(f"setting '{where}.{k}' = {getattr(built, k)!r}: must be between 0 and 1")
    return built


_SECTIONS = {
    "store": StoreConfig, "arxiv": ArxivConfig, "selection": SelectionConfig, "limits": LimitsConfig,
    "llm": LLMConfig, "output": OutputConfig, "mail": MailConfig, "web": WebConfig, "ask": AskConfig,
}

# Environment variables that override settings, beside the generic DIGEST_<SECTION>_<KEY>.
_SHORT_ENV = {
    "DIGEST_MODEL": ("llm", "model"),
    "DIGEST_LANGUAGE": ("output", "language"),
    "DIGEST_STORE": ("store", "path"),
    "DIGEST_ARCHIVE": ("store", "archive_dir"),
}


def _coerce(current: Any, raw: str, name: str) -> Any:
    try:
        if isinstance(current, bool):
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
        if isinstance(current, list):
            return [s.strip() for s in raw.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not a valid value") from None
    return raw


def _apply_env(cfg: Config, env: dict[str, str]) -> None:
    for name, (section, key) in _SHORT_ENV.items():
        if env.get(name):
            sec = getattr(cfg, section)
            setattr(sec, key, _coerce(getattr(sec, key), env[name], name))
    for name, raw in env.items():
        if not name.startswith("DIGEST_") or name in _SHORT_ENV:
            continue
        rest = name[len("DIGEST_"):].lower()
        for section in _SECTIONS:
            if rest.startswith(section + "_"):
                key = rest[len(section) + 1:]
                sec = getattr(cfg, section)
                if hasattr(sec, key):
                    setattr(sec, key, _coerce(getattr(sec, key), raw, name))
    if env.get("DIGEST_SOURCES"):
        cfg.sources = [s.strip() for s in env["DIGEST_SOURCES"].split(";") if s.strip()]
    # OPENAI_BASE_URL sets the endpoint of any model whose base_url is left empty.
    base = env.get("OPENAI_BASE_URL")
    if base:
        for m in cfg.models.values():
            if m.base_url:
                continue
            m.base_url = base
            if not is_openai_url(base):
                # A table without base_url was written for api.openai.com: its rpm/tpm are OpenAI's limits
                # and would only throttle a local server (200k tokens a minute: minutes for one rerun).
                m.rpm = m.tpm = 0


def is_openai_url(url: str) -> bool:
    """Whether a base URL is OpenAI's own API (or empty, which means it); local and other servers are not."""
    url = url.strip()
    host = (urlsplit(url if "://" in url else f"//{url}").hostname or "").lower()
    return not url or host == "api.openai.com"


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    """Build a Config from parsed TOML."""
    cfg = Config(path=path)
    for k, v in data.items():
        if k in _SECTIONS:
            if not isinstance(v, dict):
                raise ConfigError(f"[{k}] must be a table")
            setattr(cfg, k, _build(_SECTIONS[k], v, k))
        elif k == "sources":
            if isinstance(v, dict):
                v = v.get("specs", [])
            if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
                raise ConfigError("sources must be a list of strings like \"arxiv:cs.CL\"")
            cfg.sources = v
        elif k == "models":
            cfg.models = {mid: _build(ModelConfig, mv, f"models.{mid}") for mid, mv in v.items()}
        elif k == "channels":
            cfg.channels = _channels(v)
        else:
            raise ConfigError(f"unknown section [{k}] in {path or 'config'}")
    if cfg.llm.unverified not in ("mark", "drop"):
        raise ConfigError("llm.unverified must be 'mark' or 'drop'")
    return cfg


def _channels(v: Any) -> list[ChannelConfig]:
    if not isinstance(v, list) or not all(isinstance(t, dict) for t in v):
        raise ConfigError("channels must be a list of tables: [[channels]]",
                          hint="write each channel as a [[channels]] table with name, kind and url_env")
    channels: list[ChannelConfig] = []
    for i, table in enumerate(v):
        c = _build(ChannelConfig, table, f"channels[{i}]")
        where = f"channels[{i}]" + (f" ({c.name})" if c.name else "")
        if not c.name.strip():
            raise ConfigError(f"{where}: name is empty", hint="give each channel a name, e.g. name = \"team-slack\"")
        if c.kind not in CHANNEL_KINDS:
            raise ConfigError(f"{where}: kind = {c.kind!r}", hint="use " + ", ".join(CHANNEL_KINDS))
        if c.mode not in CHANNEL_MODES:
            raise ConfigError(f"{where}: mode = {c.mode!r}", hint="use digest or per-paper")
        if not c.url_env.strip():
            # The URL itself is a secret: it never goes into the file, only its variable's name.
            raise ConfigError(f"{where}: url_env is empty",
                              hint="set url_env to the NAME of the environment variable holding the webhook URL")
        if "://" in c.url_env:
            raise ConfigError(f"{where}: url_env holds a URL, not a variable name",
                              hint="put the URL in an environment variable and name that variable in url_env")
        if any(c.name == o.name for o in channels):
            raise ConfigError(f"{where}: the name is used twice", hint="give each channel its own name")
        channels.append(c)
    return channels


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Read the config (explicit path, $DIGEST_CONFIG, or ./digest.toml if present) and apply env overrides."""
    env = dict(os.environ if env is None else env)
    explicit = path or env.get("DIGEST_CONFIG")
    p = Path(explicit) if explicit else Path(DEFAULT_CONFIG_NAME)
    if p.exists():
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: {e}", hint="fix the TOML syntax") from None
        cfg = parse_config(data, p.resolve())
    elif explicit:
        raise ConfigError(f"config file {p} not found", hint="create one with `digest init`")
    else:
        cfg = Config()
    _apply_env(cfg, env)
    return cfg


def known_model_names(config: Config) -> list[str]:
    """Model ids this installation knows without asking a server: the config's tables, the init template's, extractive."""
    template = re.findall(r'^#?\s*\[models\."?([^"\]]+)"?\]', default_config_text(), flags=re.MULTILINE)
    return list(dict.fromkeys([*config.models, *template, "extractive"]))


def did_you_mean(name: str, known: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """'did you mean X?' for a name close to one of `known` (a typo), else None."""
    close = difflib.get_close_matches(name, [k for k in known if k != name], n=1, cutoff=0.75)
    return f"did you mean {close[0]}?" if close else None


def default_config_text() -> str:
    """The commented digest.toml that `digest init` writes."""
    return (Path(__file__).parent / "default_config.toml").read_text(encoding="utf-8")
