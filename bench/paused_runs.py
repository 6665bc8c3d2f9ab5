#!/usr/bin/env python3
"""fuser's latency in blocks of runs that each start after a pause, as
`interleaved_ort.py` times them: the percentiles of single runs' times.

Before each block of `--block` runs the process waits until its other threads have gone
idle (`interleaved_ort.wait_until_quiet`: fuser's pool helpers spin 2 ms, then sleep),
then runs the model once untimed and `--block` times timed. A helper woken from its sleep
that the scheduler puts on the calling thread's core runs the block at one thread's
speed: compare a run with `FUSER_PIN_THREADS=0` in the environment (helpers unpinned)
against one without (`runtime/src/affinity.rs`). `--back-to-back` drops the pauses.

Usage: bench/paused_runs.py FUSER MODEL.onnx [--runs 500] [--block 10] [--back-to-back]
(MODEL's input from MODEL.input.npy beside it, as bench/compare_ort.py or
bench/op_models.py write it).
"""
import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interleaved_ort  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fuser")
    parser.add_argument("model")
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--block", type=int, default=10)
    parser.add_argument("--back-to-back", action="store_true")
    args = parser.parse_args()
    x = np.ascontiguousarray(np.load(args.model.removesuffix(".onnx") + ".input.npy"), dtype=np.float32)
    with tempfile.TemporaryDirectory() as work:
        function, size = interleaved_ort.fuser_library(args.fuser, args.model, work, x.size)
        out = np.zeros(size, dtype=np.float32)

        def run():
            function(x.ctypes.data, out.ctypes.data)

        for _ in range(20):
            run()
        times = []
        for _ in range(max(1, args.runs // args.block)):
            if not args.back_to_back:
                interleaved_ort.wait_until_quiet()
            times += interleaved_ort.timed_block(run, args.block)
        del function
    p10, p25, p50, p75, p90 = np.percentile(times, [10, 25, 50, 75, 90])
    pinned = "unpinned" if os.environ.get("FUSER_PIN_THREADS") == "0" else "pinned"
    print(f"{os.path.basename(args.model)}: helpers {pinned}, {len(times)} runs in blocks of {args.block}"
          f"{'' if args.back_to_back else ' after pauses'}: ms p10 {p10:.3f} p25 {p25:.3f} median {p50:.3f} "
          f"p75 {p75:.3f} p90 {p90:.3f}")


if __name__ == "__main__":
    main()
