"""`digest check`: everything a weekly cron run needs, tried once before the first run."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from digest.config import ChannelConfig, Config
from digest.errors import DigestError
from digest.llm.client import get_model
from digest.mail.delivery import Mailer
from digest.mail.subscribers import list_subscribers
from digest.sources.registry import fetch_sources
from digest.store import Store


@dataclass
class Check:
    """One thing checked: what, whether it works, and what was seen (or what to do)."""

    what: str
    ok: bool
    detail: str


def check_setup(config: Config, store: Store | None, *, smtp: bool | None = None,
                on_check: Callable[[Check], None] | None = None, env: Mapping[str, str] | None = None,
                resolve: Callable[[str, float], str | None] | None = None) -> list[Check]:
    """Try the sources, the model endpoint, the chat channels and the SMTP login as the weekly run will.

    Nothing is stored or sent; `store` None (none exists yet) is not created: an in-memory one stands in.
    """
    checks: list[Check] = []

    def add(c: Check) -> None:
        checks.append(c)
        if on_check:
            on_check(c)

    if config.path:
        add(Check("config", True, str(config.path)))
    elif store is None:  # an empty folder: most likely not where the weekly run will start
        add(Check("config", False, "no digest.toml and no store here: point at the config with --config PATH or "
                                   "DIGEST_CONFIG=PATH, or write one with `digest init`"))
    else:
        add(Check("config", True, "defaults (no digest.toml)"))
    if store is None:
        add(Check("store", True, f"none yet (nothing created): the first `digest run` makes {config.db_path}"))
        store = Store(":memory:")
    else:
        add(Check("store", True, str(config.db_path)))
    if not config.sources:
        add(Check("sources", False, "none configured: add sources to digest.toml"))
    results, errors = fetch_sources(config.sources, config, store, conditional=False)
    for r in results:
        n = len(r.papers)
        state = "empty listing (normal at weekends)" if r.empty_listing else f"{n} paper{'s' if n != 1 else ''}"
        add(Check(f"source {r.source}", True, "; ".join([state, *r.warnings])))
    for e in errors:
        add(Check(f"source {e.source}", False, e.detail + (f" ({e.hint})" if e.hint else "")))
    add(_check_model(config, store))
    if config.selection.rerank_model.strip():  # the week's re-rank call (issue 21) goes to its own endpoint
        add(_check_model(config, store, config.selection.rerank_model.strip(), "re-rank model"))
    env = os.environ if env is None else env
    for ch in config.channels:
        add(check_channel(ch, env, resolve or resolve_host))
    if smtp is None:  # nobody to mail yet: an unconfigured SMTP server is not a fault
        smtp = bool(list_subscribers(store, "active"))
    if smtp:
        add(_check_smtp(config))
    else:
        add(Check("SMTP", True, "not checked: no active subscribers (digest check --smtp tries it anyway)"))
    return checks


def resolve_host(host: str, timeout: float) -> str | None:
    """None when `host` resolves within `timeout` seconds, else why not (getaddrinfo has no timeout of its own)."""
    outcome: list[str | None] = []

    def look_up() -> None:
        try:
            socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
            outcome.append(None)
        except (OSError, UnicodeError) as e:
            outcome.append(getattr(e, "strerror", None) or str(e) or type(e).__name__)

    # A daemon thread: a resolver stuck past the timeout neither blocks the check nor the exit.
    worker = threading.Thread(target=look_up, name=f"resolve {host}", daemon=True)
    worker.start()
    worker.join(timeout)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"


def check_channel(ch: ChannelConfig, env: Mapping[str, str],
                  resolve: Callable[[str, float], str | None] = resolve_host) -> Check:
    """A chat channel as `digest send` will find it: variable set, an http(s) URL, its host resolvable.

    Nothing is posted (a webhook has no harmless request), and the URL is never shown: it is a secret.
    """
    what, var = f"channel {ch.name} ({ch.kind})", f"${ch.url_env}"
    url = env.get(ch.url_env, "").strip()
    if not url:
        return Check(what, False, f"{var} is not set: export it with the webhook URL (a send would fail this "
                                  "channel and exit 3)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return Check(what, False, f"{var} does not hold an http(s) URL with a host: set it to the webhook URL")
    why = resolve(parts.hostname, ch.timeout)
    if why:
        return Check(what, False, f"the host of {var} ({parts.hostname}) does not resolve: {why}; check the URL "
                                  "and this machine's DNS")
    return Check(what, True, f"{var} is set; {parts.hostname} resolves (nothing posted)")


def _check_model(config: Config, store: Store, model_id: str | None = None, what: str = "model") -> Check:
    model_id = model_id or config.llm.model
    if model_id == "extractive":
        if what != "model":
            return Check(f"{what} extractive", False, "makes no LLM calls: name a chat model or leave it empty")
        return Check("model extractive", True, "built in, no LLM (set llm.model for written summaries)")
    try:
        model = get_model(model_id, config, store)
        model.preflight()
    except DigestError as e:
        return Check(f"{what} {model_id}", False, str(e))
    return Check(f"{what} {model_id}", True, f"{model.endpoint} answers and takes the key")


def _check_smtp(config: Config) -> Check:
    m = config.mail
    what = f"SMTP {m.host}:{m.port}"
    try:
        with Mailer(m) as mailer:
            mailer.connect()
    except DigestError as e:
        return Check(what, False, str(e))
    login = f"logged in as {m.username}" if m.username else "no login configured"
    return Check(what, True, f"{m.security}, {login}")
