// `fuser compile --target rocm:gfx90a|rocm:gfx942`: AMDGPU assembly with `.amdhsa_kernel`
// directives that llvm-mc assembles, and a code object linked by ld.lld.
// RUN: fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target rocm:gfx942 --emit amdgcn -o %t.gfx942.s
// RUN: FileCheck %s < %t.gfx942.s
// RUN: llvm-mc -triple=amdgcn-amd-amdhsa -mcpu=gfx942 -filetype=obj %t.gfx942.s -o %t.gfx942.o
// RUN: fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target rocm:gfx90a --emit amdgcn -o %t.gfx90a.s
// RUN: FileCheck %s --check-prefix=GFX90A < %t.gfx90a.s
// RUN: llvm-mc -triple=amdgcn-amd-amdhsa -mcpu=gfx90a -filetype=obj %t.gfx90a.s -o %t.gfx90a.o
// The default is a code object for the ROCm runtime.
// RUN: fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target rocm:gfx942 -o %t.hsaco
// RUN: llvm-readelf -h %t.hsaco | FileCheck %s --check-prefix=HSACO
// The report reads each kernel's VGPRs, LDS and scratch off its directives.
// RUN: fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target rocm:gfx942 --report %t.report.json -o %t.report.hsaco
// RUN: FileCheck %s --check-prefix=REPORT < %t.report.json
// Math functions need no device library: the Transformer-style MLP (GELU, softmax) assembles.
// RUN: fuser compile %S/../../testdata/json/mlp.json --shape features=4x8 --target rocm:gfx942 --emit amdgcn -o %t.mlp.s
// RUN: llvm-mc -triple=amdgcn-amd-amdhsa -mcpu=gfx942 -filetype=obj %t.mlp.s -o %t.mlp.o
// RUN: not fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target rocm:gfx942 --emit ptx -o %t.ptx 2>&1 | FileCheck %s --check-prefix=EMIT
// RUN: not fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target rocm:gfx1100 -o %t.hsaco 2>&1 | FileCheck %s --check-prefix=CHIP

// CHECK: .amdgcn_target "amdgcn-amd-amdhsa--gfx942
// The conv kernel: slices through LDS (shared memory), fused multiply-adds. (Its 64
// threads are one wavefront, so the barriers compile to nothing.)
// CHECK-LABEL: resnet_bottleneck_k0_conv_kernel:
// CHECK: ds_write
// CHECK: ds_read
// CHECK: v_{{(pk_)?}}fma{{c?}}_f32
// CHECK: .amdhsa_kernel resnet_bottleneck_k0_conv_kernel

// GFX90A: .amdgcn_target "amdgcn-amd-amdhsa--gfx90a
// GFX90A: .amdhsa_kernel

// REPORT: "gpu": {
// REPORT: "kernel": "resnet_bottleneck_k0_conv_kernel"
// REPORT: "registers": {{[1-9][0-9]*}}
// REPORT: "shared_bytes": {{[1-9][0-9]*}}
// REPORT: "spill_store_bytes": 0
// REPORT: "theoretical_occupancy": {{0\.[0-9]+|1\.0}}
// REPORT: "resources_from": "the .amdhsa_kernel directives"
// REPORT: "target": "rocm:gfx942"

// HSACO: Machine: EM_AMDGPU
// HSACO: gfx942

// EMIT: error: --emit ptx is not for --target rocm:gfx942, which writes hsaco (default), amdgcn, host-plan or mlir
// CHIP: error: unknown ROCm chip 'gfx1100' (known: rocm:gfx90a, rocm:gfx942)
