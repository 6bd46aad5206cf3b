"""Put on PYTHONPATH only for the moved-clock run in .ci/run (faketime with FAKETIME_DONT_FAKE_MONOTONIC=1).

Only the wall clock should move: a faked monotonic clock makes libfaketime 0.9.10 hang every timed
lock wait. With the monotonic clock left alone, the one thing that breaks is clock_nanosleep with an
absolute deadline, which time.sleep uses (EINVAL). Sleeping on a timed lock wait instead keeps the
durations real. Subprocesses (the CLI, PDF workers) inherit PYTHONPATH and get the same.
"""

import os
import threading
import time

if os.environ.get("FAKETIME"):
    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        threading.Event().wait(seconds)

    time.sleep = _sleep

    # The browser that the HTML tests drive is not under test, and libfaketime hangs it: start it on
    # the real clock.
    import subprocess

    _popen_init = subprocess.Popen.__init__

    def _popen(self, args, *rest, **kwargs):
        program = str(args[0] if isinstance(args, (list, tuple)) else args)
        if "chrom" in os.path.basename(program):
            env = dict(kwargs.get("env") or os.environ)
            for name in ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC"):
                env.pop(name, None)
            kwargs["env"] = env
        _popen_init(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = _popen
