"""`digest serve`'s app under its real server on 127.0.0.1, for tests that click links as readers do."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from digest.mail.web import create_app, make_server


@contextmanager
def web_server(config, store, *, limits: dict | None = None, **kwargs) -> Iterator[str]:
    """The app under `digest serve`'s server (make_server, with `limits`) on a free port; yields its base URL."""
    server = make_server(create_app(config, store, **kwargs), host="127.0.0.1", port=0, threads=2, **(limits or {}))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Closed from inside its own loop: a socket closed under another thread's select() makes it fail
        # with EBADF. With every socket of its map closed, the loop ends and the thread with it.
        server.trigger.pull_trigger(lambda: [d.close() for d in list(server._map.values())])
        t.join(timeout=60)
        server.task_dispatcher.shutdown()
