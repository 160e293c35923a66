"""Diagnostic only: run the `vdispatch` command line with Python's garbage-collector
pauses timed (gc.callbacks) and logged to stderr as

    gcprobe <unix time> gen<N> <pause ms> collected <n> objects <tracked>

bench/relay.py --gc-probe starts the gateway through this instead of `vdispatch serve`
to see whether latency spikes line up with collections. Pauses shorter than 2 ms of the
young generations are not logged.
"""

from __future__ import annotations

import gc
import sys
import time
from typing import Any

from vdispatch.cli import main

_started = [0.0]


def _callback(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    pause = time.perf_counter() - _started[0]
    generation = info["generation"]
    if generation == 2 or pause > 0.002:
        objects = len(gc.get_objects()) if generation == 2 else -1
        print(
            f"gcprobe {time.time():.3f} gen{generation} {pause * 1000:.2f}"
            f" collected {info['collected']} objects {objects}",
            file=sys.stderr,
            flush=True,
        )


if __name__ == "__main__":
    gc.callbacks.append(_callback)
    sys.exit(main(sys.argv[1:]))
