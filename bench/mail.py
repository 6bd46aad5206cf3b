"""Benchmark: sending an issue to N subscribers through a local SMTP sink, with 1 and with 4 connections.

The issue is tests/email_fixtures.long_issue (10 papers x 10 answers, the compact edition), each
subscriber's message carrying their own unsubscribe, preferences and vote links, as `digest send` builds
it. The sink is a real aiosmtpd server in its own process that logs every message it accepts. Measured:
messages per second of `send_issue` with `per_minute = 0` (rendering included), for 1 and for 4
connections, alternating, medians over the rounds; then `digest send` with 4 connections is killed with
SIGKILL at a random moment of the middle of its run (--kills times), run again, and every subscriber's
copies are counted. A copy can only be of a message in flight at the kill, and has the same Message-ID.
Run by hand:

    .venv/bin/python bench/mail.py [--subscribers 2000] [--rounds 3] [--kills 3] [--seed 23]

Last line: `mail: <x> msgs/s with 4 connections (<y> with 1), <d> duplicates across kill -9`, followed on
that line by the number of kills, the missing count (must be 0) and the messages in flight at the kills.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from email_fixtures import store_long_issue  # noqa: E402
from smtp_helpers import free_port  # noqa: E402

from digest.config import Config  # noqa: E402
from digest.mail.delivery import send_issue  # noqa: E402
from digest.store import Store  # noqa: E402

# The sink: accepts every message and appends "recipient<TAB>Message-ID" to a log once it has taken it
# (before its 250 reply, as a real server takes responsibility), one write per message.
SINK = r"""
import asyncio, os, re, sys, time
from aiosmtpd.controller import Controller
log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
MID = re.compile(rb"(?im)^Message-ID:\s*(<[^>]*>)")
class Sink:
    async def handle_DATA(self, server, session, envelope):
        head = envelope.original_content.split(b"\r\n\r\n", 1)[0]
        m = MID.search(head)
        mid = m.group(1).decode() if m else "-"
        os.write(log, "".join(f"{r}\t{mid}\n" for r in envelope.rcpt_tos).encode())
        return "250 2.0.0 OK"
c = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[2]))
c.start()
print("ready", flush=True)
sys.stdin.read()  # until the parent closes our stdin
c.stop()
"""


def start_sink(log: Path) -> tuple[subprocess.Popen, int]:
    """The sink process and its port."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SINK, str(log), str(port)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise SystemExit(f"the SMTP sink did not start: {line!r}")
    return proc, port


def accepted(log: Path) -> list[tuple[str, str]]:
    """(recipient, Message-ID) of every message the sink took, in order."""
    if not log.exists():
        return []
    return [tuple(line.split("\t", 1)) for line in log.read_text().splitlines() if "\t" in line]  # type: ignore[misc]


def subscribe(store: Store, n: int) -> list[str]:
    """N active subscribers, inserted in one transaction (the bench is about sending, not signing up)."""
    import secrets

    emails = [f"reader{i:05d}@example.org" for i in range(n)]
    with store.transaction() as db:
        db.executemany("INSERT INTO subscribers (email, name, status, token, created, confirmed) "
                       "VALUES (?,?,?,?,?,?)",
                       [(e, f"Reader {i}", "active", secrets.token_urlsafe(32), "2026-11-01T00:00:00+00:00",
                         "2026-11-01T00:00:00+00:00") for i, e in enumerate(emails)])
    return emails


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_send(config: Config, store: Store, connections: int, n: int, sink_pid: int) -> tuple[float, float, float]:
    """One send to everyone (the ledger emptied first): messages per second, and the CPU milliseconds per
    message of this process (every thread) and of the sink: what a busy machine cannot shrink."""
    store.execute("DELETE FROM deliveries")
    config.mail.connections = connections
    sink0, cpu0, t0 = cpu_seconds(sink_pid), time.process_time(), time.perf_counter()
    report = send_issue(config, store)
    elapsed = time.perf_counter() - t0
    cpu, sink = time.process_time() - cpu0, cpu_seconds(sink_pid) - sink0
    if len(report.sent) != n or not report.ok:
        raise SystemExit(f"send with {connections} connections: {len(report.sent)} of {n} sent, ok={report.ok}")
    return n / elapsed, cpu / n * 1000, sink / n * 1000


def write_config(path: Path, archive: Path, port: int, connections: int) -> None:
    path.write_text(
        f'[store]\narchive_dir = "{archive}"\n'
        f'[mail]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nper_minute = 0\ntimeout = 60\n'
        f'connections = {connections}\n'
        '[web]\npublic_url = "https://digest.example.org"\n', encoding="utf-8")


def digest_send(conf: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    return subprocess.Popen([sys.executable, "-m", "digest", "--config", str(conf), "send"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_and_resume(config: Config, store: Store, emails: list[str], folder: Path, port: int, log: Path,
                    rate: float, rng: random.Random) -> tuple[int, int, int]:
    """`digest send` with 4 connections killed -9 at a random moment of its middle half, then run again:
    (copies beyond one per subscriber, subscribers without the issue, messages 'sending' at the kill)."""
    store.execute("DELETE FROM deliveries")
    log.write_bytes(b"")
    conf = folder / "digest.toml"
    write_config(conf, config.archive_dir, port, 4)
    proc = digest_send(conf)
    deadline = time.monotonic() + 600  # bounds a hang only
    while not accepted(log):  # the process has started and sends
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"digest send sent nothing: {proc.stdout.read()}")
        time.sleep(0.01)
    # A moment that owes nothing to what the sink or the ledger just did: anywhere in a message's life.
    time.sleep(rng.uniform(0.25, 0.75) * len(emails) / rate)
    if proc.poll() is not None:
        raise SystemExit(f"digest send ended before the kill: {proc.stdout.read()}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    in_flight = store.query("SELECT count(*) AS n FROM deliveries WHERE status='sending'")[0]["n"]
    rerun = digest_send(conf)
    out, _ = rerun.communicate(timeout=600)
    if rerun.returncode != 0:
        raise SystemExit(f"the resumed send exited {rerun.returncode}: {out}")
    got = accepted(log)
    counts = Counter(rcpt for rcpt, _ in got)
    ids: dict[str, set[str]] = {}
    for rcpt, mid in got:
        ids.setdefault(rcpt, set()).add(mid)
    if any(len(v) > 1 for v in ids.values()):
        raise SystemExit("a copy went out with another Message-ID")
    return sum(c - 1 for c in counts.values()), sum(1 for e in emails if counts[e] == 0), in_flight


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subscribers", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kills", type=int, default=3, help="kill -9 and resume this many times")
    ap.add_argument("--seed", type=int, default=23, help="of the random moments of the kills")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = Config(path=folder / "digest.toml")
        config.store.archive_dir = str(folder / "archive")
        config.mail.host, config.mail.security, config.mail.per_minute = "127.0.0.1", "none", 0
        config.web.public_url = "https://digest.example.org"
        store = Store(config.db_path)
        store_long_issue(store)
        emails = subscribe(store, args.subscribers)
        log = folder / "sink.log"
        sink, port = start_sink(log)
        try:
            config.mail.port = port
            rates: dict[int, list[float]] = {1: [], 4: []}
            for r in range(args.rounds):
                for connections in ((1, 4) if r % 2 == 0 else (4, 1)):
                    rate, cpu, sink_cpu = timed_send(config, store, connections, len(emails), sink.pid)
                    rates[connections].append(rate)
                    print(f"round {r + 1}: {rate:.0f} msgs/s with {connections} connection"
                          f"{'s' if connections > 1 else ''}; CPU per message {cpu:.2f} ms here, "
                          f"{sink_cpu:.2f} ms in the sink", flush=True)
            rng = random.Random(args.seed)
            kills = [kill_and_resume(config, store, emails, folder, port, log, statistics.median(rates[4]), rng)
                     for _ in range(args.kills)]
        finally:
            sink.stdin.close()
            sink.wait(timeout=30)
        one, four = statistics.median(rates[1]), statistics.median(rates[4])
        for i, (dup, missing, in_flight) in enumerate(kills, 1):
            print(f"kill -9 {i} with 4 connections: {in_flight} messages in flight ('sending'), {dup} delivered "
                  f"twice (same Message-ID), {missing} missing after the rerun")
        duplicates, missing = sum(k[0] for k in kills), sum(k[1] for k in kills)
        print(f"mail: {four:.0f} msgs/s with 4 connections ({one:.0f} with 1), {duplicates} duplicates across kill -9 "
              f"({args.kills} kills, {missing} missing, {sum(k[2] for k in kills)} in flight at the kills; "
              f"{args.subscribers} subscribers)")

if __name__ == "__main__":
    main()
