"""Benchmark (not a test): 16 calls against the test server with 1 s latency, 1 vs 8 threads, then resumed.

Run: .venv/bin/python bench/llm.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the test server
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llm_server import LLMServer  # noqa: E402

from digest.config import ModelConfig  # noqa: E402
from digest.llm.client import ChatModel  # noqa: E402
from digest.store import Store  # noqa: E402

SCHEMA = {"type": "object", "properties": {"tldr": {"type": "string"}}, "required": ["tldr"]}


def run(model: ChatModel, threads: int, tag: str) -> list:
    def one(i: int):
        return model.complete_json([{"role": "user", "content": f"{tag}-{i}"}], SCHEMA, schema_name="bench",
                                   purpose="bench")

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(16)))


def main() -> None:
    server = LLMServer(latency=1.0).start()
    try:
        store = Store(Path(tempfile.mkdtemp()) / "bench.sqlite")
        model = ChatModel("bench", ModelConfig(base_url=server.base_url), store)
        for threads in (1, 8):
            t = time.monotonic()
            run(model, threads, f"t{threads}")
            print(f"16 calls, 1 s server latency, {threads} thread(s): {time.monotonic() - t:.2f} s")
        t = time.monotonic()
        results = run(model, 8, "t8")
        print(f"the same 16 calls again, answered from the call log: {time.monotonic() - t:.3f} s "
              f"(from_cache={all(r.from_cache for r in results)})")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
