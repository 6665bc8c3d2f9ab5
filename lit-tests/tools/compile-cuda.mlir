// `fuser compile --target cuda:sm_80|cuda:sm_90`: one PTX module of every kernel, which
// ptxas accepts without spills for both chips, and the host plan of buffers and launches.
// REQUIRES: ptxas
// RUN: fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target cuda:sm_90 -o %t.sm90.ptx
// RUN: FileCheck %s --check-prefix=PTX < %t.sm90.ptx
// RUN: ptxas -arch=sm_90 -v %t.sm90.ptx -o %t.sm90.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS
// RUN: fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target cuda:sm_80 -o %t.sm80.ptx
// RUN: FileCheck %s --check-prefix=SM80 < %t.sm80.ptx
// RUN: ptxas -arch=sm_80 -v %t.sm80.ptx -o %t.sm80.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS
// RUN: fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target cuda:sm_90 --emit host-plan -o %t.plan.json
// RUN: FileCheck %s --check-prefix=PLAN < %t.plan.json
// The host side is one hw function, which fuser-opt verifies; the plan is read off it.
// RUN: fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target cuda:sm_90 --emit mlir -o %t.host.mlir
// RUN: FileCheck %s --check-prefix=HOST < %t.host.mlir
// RUN: fuser-opt %t.host.mlir -o %t.host.verified.mlir
// The report gives each kernel's registers, shared memory and theoretical occupancy.
// RUN: fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target cuda:sm_90 --report %t.report.json -o %t.report.ptx
// RUN: FileCheck %s --check-prefix=REPORT < %t.report.json
// Math functions come from libdevice, linked in: the PTX calls no external function.
// RUN: fuser compile %S/../../testdata/json/mlp.json --shape features=4x8 --target cuda:sm_90 -o %t.mlp.ptx
// RUN: FileCheck %s --check-prefix=MATH < %t.mlp.ptx
// RUN: ptxas -arch=sm_90 -v %t.mlp.ptx -o %t.mlp.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS
// Options a GPU target does not take are refused by name.
// RUN: not fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target cuda:sm_90 --emit obj -o %t.o 2>&1 | FileCheck %s --check-prefix=EMIT
// RUN: not fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target cuda:sm_70 -o %t.ptx 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --emit ptx -o %t.ptx 2>&1 | FileCheck %s --check-prefix=CPU

// PTX: .version 8.0
// PTX: .target sm_90
// PTX: .visible .entry resnet_bottleneck_k0_conv_kernel(
// A conv is one tiled kernel: slices of the weights and the input go through shared
// memory between barriers, and each thread accumulates with fused multiply-adds.
// PTX: ld.global.{{b32|f32}}
// PTX: st.shared.{{b32|f32}}
// PTX: bar.sync
// PTX: ld.shared.{{(v4.)?(b32|f32)}}
// PTX: fma.rn.f32
// PTX: .visible .entry resnet_bottleneck_k3_conv_kernel

// SM80: .version 7.0
// SM80: .target sm_80

// PTXAS: Compiling entry function
// PTXAS-NOT: {{[1-9][0-9]*}} bytes spill stores

// HOST: gpu.binary @fuser_kernels
// HOST-NOT: gpu.launch_func
// HOST-LABEL: func.func @resnet_bottleneck_host(%arg0: memref<200704xi8>, %arg1: memref<401408xi8>)
// HOST: "hw.alloc"() {arena = "inputs", offset = 0 : i64, size = 200704 : i64}
// HOST: "hw.alloc"() {arena = "activations"
// HOST: "hw.copy"(%arg0,
// HOST: memref.get_global @__constant_
// HOST: "hw.copy"
// HOST: "hw.launch"({{.*}}) {args = [{buffer = 0 : i64, byte_offset = 0 : i64, offset = 0 : i64, sizes = array<i64: 2048>, strides = array<i64: 1>},
// HOST-SAME: block = array<i64: 8, 8, 1>, from = "resnet_bottleneck_k0_conv", grid = array<i64: 25, 1, 1>, kernel = @fuser_kernels::@resnet_bottleneck_k0_conv_kernel, shared_bytes = 0 : i64, stream = 0 : i64
// HOST: "hw.copy"(%{{[0-9]+}}, %arg1)
// HOST-NEXT: "hw.wait"() {stream = 0 : i64}
// HOST-NEXT: return

// PLAN: "buffers": [
// PLAN: "kind": "input"
// PLAN: "kind": "constant"
// PLAN: "kind": "arena"
// PLAN: "device_module": "fuser_kernels"
// PLAN: "launches": [
// PLAN: "block": [
// PLAN: "kernel": "resnet_bottleneck_k0_conv_kernel"
// PLAN: "target": "cuda:sm_90"

// REPORT: "gpu": {
// REPORT: "kernels": [
// REPORT: "kernel": "resnet_bottleneck_k0_conv_kernel"
// REPORT: "registers": {{[1-9][0-9]*}}
// REPORT: "shared_bytes": {{[1-9][0-9]*}}
// REPORT: "spill_store_bytes": 0
// REPORT: "theoretical_occupancy": {{0\.[0-9]+|1\.0}}
// REPORT: "resources_from": "ptxas -v"
// REPORT: "target": "cuda:sm_90"
// REPORT: "memory": {

// MATH-NOT: .extern .func
// MATH: .visible .entry

// EMIT: error: --emit obj is not for --target cuda:sm_90, which writes ptx (default), host-plan or mlir
// CHIP: error: unknown CUDA chip 'sm_70' (known: cuda:sm_80, cuda:sm_90)
// CPU: error: --emit ptx needs a GPU target (--target cuda:sm_80|cuda:sm_90|rocm:gfx90a|rocm:gfx942)
