// f16 convolutions on tensor cores (`fuser compile --tensor-cores`): each fused conv is
// one kernel that loads its fragments from shared memory with ldmatrix and multiplies
// with mma.sync (m16n8k16, f16 in, f32 accumulators); ptxas accepts it for sm_80 and
// sm_90 without spills. Experimental: not yet run on a GPU. (AMD's matrix cores:
// compile-rocm-matrix-cores.mlir.)
// REQUIRES: ptxas
// RUN: fuser quantize %S/../../testdata/demo/resnet_bottleneck.onnx --type f16 -o %t.f16.mlir
// RUN: fuser compile %t.f16.mlir --target cuda:sm_80 --tensor-cores -o %t.sm80.ptx
// RUN: FileCheck %s < %t.sm80.ptx
// RUN: ptxas -arch=sm_80 -v %t.sm80.ptx -o %t.sm80.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS
// RUN: fuser compile %t.f16.mlir --target cuda:sm_90 --tensor-cores -o %t.sm90.ptx
// RUN: FileCheck %s < %t.sm90.ptx
// RUN: ptxas -arch=sm_90 -v %t.sm90.ptx -o %t.sm90.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS
// Without the flag the same model runs its f16 convolutions on the CUDA cores.
// RUN: fuser compile %t.f16.mlir --target cuda:sm_90 -o %t.plain.ptx
// RUN: FileCheck %s --check-prefix=PLAIN < %t.plain.ptx
// RUN: not fuser compile %t.f16.mlir --tensor-cores -o %t.so 2>&1 | FileCheck %s --check-prefix=CPU

// CHECK: .visible .entry resnet_bottleneck_k1_conv_kernel(
// CHECK: ld.global.{{(nc.)?}}{{b16|u16}}
// CHECK: st.shared.{{b16|u16}}
// CHECK: bar.sync
// CHECK: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// CHECK: ldmatrix.sync.aligned.m8n8.x2.shared.b16
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32

// PTXAS: Compiling entry function
// PTXAS-NOT: {{[1-9][0-9]*}} bytes spill stores

// PLAIN-NOT: mma.sync

// CPU: error: --tensor-cores is for GPU targets (--target cuda:sm_80|cuda:sm_90|rocm:gfx90a|rocm:gfx942)
