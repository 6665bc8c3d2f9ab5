#!/usr/bin/env python3
"""fuser against onnxruntime in one process, their runs interleaved: the latency ratio
fuser/onnxruntime with much less noise than separate processes give on a busy machine.

On this project's VMs a model's latency moves by a third within seconds, so two runtimes
timed one after the other (compare_ort.py, a process per fuser round) can be a third
apart for no reason of their own. Here each model is compiled by `fuser compile` into a
shared library (ahead of time: the same runtime kernels as the JIT of `fuser bench`),
loaded with ctypes into the process that holds an onnxruntime session, and the two run in
blocks of `--block` runs that alternate (which goes first alternating too): a pair of
blocks takes about a second or less, and the machine's speed moves both sides of its
ratio alike. Before each block the process waits until the other runtime's threads have
gone idle (`wait_until_quiet`), and the first run of each block is not timed (its
threads waking). Both runtimes' idle threads spin for a while before they sleep:
fuser's for 2 ms, onnxruntime's intra-op threads for about 40–55 ms of CPU time after a
run here (read from /proc/self/task/*/schedstat; where that file is missing the wait is
the 20 ms pause alone). A fixed 20 ms pause, used before, left onnxruntime's
thread spinning through the first 30–40 ms of fuser's blocks, on one of the two cores:
a tenth of a BERT-layer block and half of a MobileNetV2 one.

Both use every core the process may run on: the library's runtime takes them all (Rust's
`available_parallelism`, which a cgroup CPU quota would lower below the count used here),
and the session gets as many intra-op threads. For one thread, run the script under
`taskset -c 0`. fuser's output is checked against onnxruntime's first (relative L2).

Prints, per model, each side's median over all timed runs, the median over pairs of
blocks of the ratio of their medians, and the spread of those ratios; then the geomean of
the models' ratios.

With `--versus OTHER_FUSER` the peer is another build of fuser (its binary, with its
`libfuser_runtime.a` beside it) instead of onnxruntime: the ratio FUSER/OTHER_FUSER of two
builds in one process, for a change that `fuser bench --ab` cannot switch at run time (a
compiler pass, a layout). Both outputs are checked against onnxruntime's.

Usage: bench/interleaved_ort.py FUSER [--models resnet50,mobilenetv2,bert_base_layer]
       [--blocks 12] [--block 10] [--work target/bench] [--versus OTHER_FUSER]
(each MODEL.onnx and MODEL.input.npy as bench/compare_ort.py writes them in --work).
"""
import argparse
import ctypes
import math
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import onnxruntime as ort


def elements(header, which):
    """The element counts of the header's `FUSER_MODEL_<which>_ELEMENTS` (one per tensor)."""
    define = f"#define FUSER_MODEL_{which}_ELEMENTS "
    name = next(line for line in header.splitlines() if line.startswith(define)).split()[-1]
    values = next(line for line in header.splitlines() if line.startswith(f"#define {name} "))
    return [int(v) for v in values.split("{", 1)[1].split("}", 1)[0].split(",")]


def fuser_library(fuser, model, work, input_size):
    """The model compiled into a shared library: (entry function, output size)."""
    library = os.path.join(work, "model.so")
    run = subprocess.run([fuser, "compile", model, "-o", library], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"fuser compile {model} failed:\n{run.stderr}")
    header = open(os.path.join(work, "model.h")).read()
    entry = next(line.split()[-1] for line in header.splitlines() if line.startswith("#define FUSER_MODEL_RUN "))
    inputs, outputs = elements(header, "INPUT"), elements(header, "OUTPUT")
    if inputs != [input_size] or len(outputs) != 1 or outputs[0] <= 0:
        sys.exit(f"{model}: this script runs models with one static input of {input_size} values and one static "
                 f"output (the library has inputs {inputs}, outputs {outputs})")
    function = getattr(ctypes.CDLL(library), entry)
    function.restype = None
    function.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    return function, int(outputs[0])


def median(values):
    """The median of `values` in whole units, or "no" where there are none."""
    return f"{np.median(values):.0f}" if values else "no"


def threads_cpu_ms():
    """The CPU time (ms) used so far by this process's threads other than the calling one."""
    me, total = threading.get_native_id(), 0
    for task in os.listdir("/proc/self/task"):
        if int(task) != me:
            try:
                with open(f"/proc/self/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass  # a thread that just ended
    return total / 1e6


def wait_until_quiet(least=0.02, most=1.0, window=0.01):
    """Sleeps `least` seconds, then until the other threads used under a tenth of a
    `window` of CPU time during one (their spinning is over), or `most` seconds in all.
    Returns the CPU time (ms) the other threads used meanwhile."""
    start = time.perf_counter()
    first = threads_cpu_ms()
    time.sleep(least)
    before = threads_cpu_ms()
    while time.perf_counter() - start < most:
        time.sleep(window)
        after = threads_cpu_ms()
        if after - before < 0.1 * window * 1e3:
            return after - first
        before = after
    return threads_cpu_ms() - first


def timed_block(run, count):
    """Milliseconds of `count` runs after one untimed run."""
    run()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fuser")
    parser.add_argument("--models", default="resnet50,mobilenetv2,bert_base_layer")
    parser.add_argument("--blocks", type=int, default=12)
    parser.add_argument("--block", type=int, default=10)
    parser.add_argument("--work", default="target/bench")
    parser.add_argument("--versus", help="another fuser binary to time instead of onnxruntime")
    args = parser.parse_args()
    peer = "other fuser" if args.versus else "onnxruntime"
    threads = len(os.sched_getaffinity(0))
    ratios = []
    for name in args.models.split(","):
        path = os.path.join(args.work, f"{name}.onnx")
        x = np.ascontiguousarray(np.load(os.path.join(args.work, f"{name}.input.npy")), dtype=np.float32)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}
        with tempfile.TemporaryDirectory() as work, tempfile.TemporaryDirectory() as other_work:
            function, size = fuser_library(args.fuser, path, work, x.size)
            out = np.zeros(size, dtype=np.float32)

            def ours():
                function(x.ctypes.data, out.ctypes.data)

            if args.versus:
                other, other_size = fuser_library(args.versus, path, other_work, x.size)
                other_out = np.zeros(other_size, dtype=np.float32)

                def theirs():
                    other(x.ctypes.data, other_out.ctypes.data)
            else:
                def theirs():
                    session.run(None, feed)

            ours()
            expected = session.run(None, feed)[0].reshape(-1)
            checked = [("fuser", out)]
            if args.versus:
                theirs()
                checked.append(("the other fuser", other_out))
            errors = []
            for who, result in checked:
                errors.append(np.linalg.norm(result - expected) / max(np.linalg.norm(expected), 1e-30))
                if not errors[-1] <= 1e-4:
                    sys.exit(f"{name}: {who}'s output is {errors[-1]:.2e} from onnxruntime's (relative L2)")
            error = errors[0]
            for _ in range(3):
                ours()
                theirs()
            sides = {"fuser": [], peer: []}
            # The CPU time the side's threads spent after its blocks (spinning, idle).
            spun = {"fuser": [], peer: []}
            pairs = []
            for b in range(args.blocks):
                medians = {}
                order = [("fuser", ours), (peer, theirs)]
                previous = None
                for side, run in order if b % 2 == 0 else order[::-1]:
                    after = wait_until_quiet()
                    if previous:
                        spun[previous].append(after)
                    previous = side
                    times = timed_block(run, args.block)
                    sides[side] += times
                    medians[side] = float(np.median(times))
                pairs.append(medians["fuser"] / medians[peer])
            del function
        ratio = float(np.median(pairs))
        ratios.append(ratio)
        low, high = np.percentile(pairs, [25, 75])
        print(f"{name}: fuser {np.median(sides['fuser']):.2f} ms, {peer} {np.median(sides[peer]):.2f} ms, "
              f"ratio {ratio:.3f} (pairs of blocks: quartiles {low:.3f}-{high:.3f}, {len(pairs)} pairs), "
              f"rel L2 {error:.1e}, {threads} threads; after a block the threads spin "
              f"{median(spun['fuser'])} ms (fuser) and {median(spun[peer])} ms ({peer}) of CPU",
              flush=True)
    geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"geomean ratio fuser/{peer}: {geomean:.3f}")


if __name__ == "__main__":
    main()
