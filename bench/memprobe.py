"""Diagnostic only: run the `vdispatch` command line under tracemalloc and log, every
VDISPATCH_MEMPROBE_SECONDS (default 60), what grew since the previous look to stderr:

    memprobe <unix time> traced <MB> (+<MB>)
    memprobe   +<KB> <count> <file:line>     (top allocation sites by growth)
    memprobe   type <name> +<n>              (gc-tracked objects by type, by growth)

bench/soak.py --memprobe starts the gateway through this instead of `vdispatch serve`,
to find what keeps growing when the RSS slope is not flat. tracemalloc slows the process.
"""

from __future__ import annotations

import collections
import gc
import os
import sys
import threading
import time
import tracemalloc

from vdispatch.cli import main


def _log(text: str) -> None:
    print(f"memprobe {text}", file=sys.stderr, flush=True)


def _watch(every: float, top: int = 15) -> None:
    previous = tracemalloc.take_snapshot()
    types = collections.Counter(type(o).__name__ for o in gc.get_objects())
    while True:
        time.sleep(every)
        snapshot = tracemalloc.take_snapshot()
        now = collections.Counter(type(o).__name__ for o in gc.get_objects())
        traced, _ = tracemalloc.get_traced_memory()
        stats = snapshot.compare_to(previous, "lineno")
        growth = sum(s.size_diff for s in stats)
        _log(f"{time.time():.0f} traced {traced / 1e6:.1f} MB ({growth / 1e6:+.2f})")
        for s in stats[:top]:
            frame = s.traceback[0]
            _log(
                f"  {s.size_diff / 1e3:+9.1f} KB {s.count_diff:+7d} {frame.filename}:{frame.lineno}"
            )
        grown = (now - types).most_common(top)
        _log("  types " + ", ".join(f"{name} +{n}" for name, n in grown))
        previous, types = snapshot, now


if __name__ == "__main__":
    tracemalloc.start(1)
    every = float(os.environ.get("VDISPATCH_MEMPROBE_SECONDS", "60"))
    threading.Thread(target=_watch, args=(every,), daemon=True, name="memprobe").start()
    sys.exit(main(sys.argv[1:]))
