# lit configuration for fuser's FileCheck tests.
# Tools are found on PATH first, then in target/release, then in target/debug;
# FileCheck, not and count come from LLVM 22.
import os
import shutil

import lit.formats

config.name = "fuser"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(__file__)
repo_root = os.path.dirname(config.test_source_root)
config.test_exec_root = os.path.join(repo_root, "target", "lit")

llvm_bin = "/usr/lib/llvm-22/bin"


def find_tool(name):
    found = shutil.which(name, path=os.environ.get("PATH", ""))
    if found:
        return found
    for profile in ("release", "debug"):
        candidate = os.path.join(repo_root, "target", profile, name)
        if os.access(candidate, os.X_OK):
            return candidate
    lit_config.fatal(f"cannot find {name}: build it with `cargo build --release` first")


def find_llvm_tool(name):
    candidate = os.path.join(llvm_bin, name)
    if os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    if found:
        return found
    lit_config.fatal(f"cannot find {name}: install llvm-22-tools (`make setup`)")


# Put the directories of the found tools first on the tests' PATH, so RUN lines name
# tools plainly (`fuser-opt`, `FileCheck`, `not`).
tool_dirs = []
for tool in ("fuser-opt", "fuser-translate", "fuser"):
    tool_dirs.append(os.path.dirname(find_tool(tool)))
for tool in ("FileCheck", "not", "count"):
    tool_dirs.append(os.path.dirname(find_llvm_tool(tool)))
path = []
for d in tool_dirs + os.environ.get("PATH", "").split(os.pathsep):
    if d and d not in path:
        path.append(d)
config.environment["PATH"] = os.pathsep.join(path)
config.environment["FILECHECK_OPTS"] = "--dump-input=fail"

# ptxas (from the nvidia-cuda-nvcc-cu12 wheel `make setup` puts in .venv) checks the PTX
# fuser writes; no GPU is needed.
import glob

ptxas = shutil.which("ptxas") or next(
    iter(sorted(glob.glob(os.path.join(repo_root, ".venv", "lib", "python*", "site-packages", "nvidia", "cuda_nvcc", "bin", "ptxas")))),
    None,
)
if ptxas:
    config.available_features.add("ptxas")
    config.environment["PATH"] = os.pathsep.join([os.path.dirname(ptxas), config.environment["PATH"]])

# A machine with an NVIDIA driver runs `--target cuda`; the tests of its clean failure
# without one are unsupported there.
import ctypes.util

if ctypes.util.find_library("cuda"):
    config.available_features.add("cuda-driver")

# The CANN declaration headers (ascend/include) let g++ check the C++ that
# `--target ascend:910b` writes: %{ascend-include}.
config.substitutions.append(("%{ascend-include}", os.path.join(repo_root, "ascend", "include")))
