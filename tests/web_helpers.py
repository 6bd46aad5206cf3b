"""`digest serve`'s app under a real server on 127.0.0.1, for tests that click links as readers do."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import waitress

from digest.mail.web import create_app


@contextmanager
def web_server(config, store, **kwargs) -> Iterator[str]:
    """The app under waitress on a free port; yields its base URL."""
    server = waitress.create_server(create_app(config, store, **kwargs), host="127.0.0.1", port=0, threads=2)
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        t.join(timeout=5)
