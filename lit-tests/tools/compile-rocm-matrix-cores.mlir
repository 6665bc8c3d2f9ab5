// f16 and bf16 convolutions on AMD matrix cores (`fuser compile --tensor-cores` for a
// ROCm target): each fused conv is one kernel whose 4 waves stage 32-deep slices in LDS,
// read each lane's fragment with one 64-bit LDS load per tile, and multiply with MFMA
// 16x16x16 (f32 accumulators). llvm-mc assembles the code for gfx90a and gfx942 and no
// register spills. Experimental: not yet run on a GPU.
// RUN: fuser quantize %S/../../testdata/demo/resnet_bottleneck.onnx --type f16 -o %t.f16.mlir
// RUN: fuser quantize %S/../../testdata/demo/resnet_bottleneck.onnx --type bf16 -o %t.bf16.mlir
// RUN: fuser compile %t.f16.mlir --target rocm:gfx942 --tensor-cores --emit amdgcn -o %t.f16.gfx942.s
// RUN: FileCheck %s --check-prefixes=CHECK,F16-GFX942 < %t.f16.gfx942.s
// RUN: llvm-mc -triple=amdgcn-amd-amdhsa -mcpu=gfx942 -filetype=obj %t.f16.gfx942.s -o %t.f16.gfx942.o
// RUN: fuser compile %t.bf16.mlir --target rocm:gfx942 --tensor-cores --emit amdgcn -o %t.bf16.gfx942.s
// RUN: FileCheck %s --check-prefixes=CHECK,BF16-GFX942 < %t.bf16.gfx942.s
// RUN: llvm-mc -triple=amdgcn-amd-amdhsa -mcpu=gfx942 -filetype=obj %t.bf16.gfx942.s -o %t.bf16.gfx942.o
// RUN: fuser compile %t.f16.mlir --target rocm:gfx90a --tensor-cores --emit amdgcn -o %t.f16.gfx90a.s
// RUN: FileCheck %s --check-prefixes=CHECK,F16-GFX90A < %t.f16.gfx90a.s
// RUN: llvm-mc -triple=amdgcn-amd-amdhsa -mcpu=gfx90a -filetype=obj %t.f16.gfx90a.s -o %t.f16.gfx90a.o
// RUN: fuser compile %t.bf16.mlir --target rocm:gfx90a --tensor-cores --emit amdgcn -o %t.bf16.gfx90a.s
// RUN: FileCheck %s --check-prefixes=CHECK,BF16-GFX90A < %t.bf16.gfx90a.s
// RUN: llvm-mc -triple=amdgcn-amd-amdhsa -mcpu=gfx90a -filetype=obj %t.bf16.gfx90a.s -o %t.bf16.gfx90a.o
// The code object links too.
// RUN: fuser compile %t.f16.mlir --target rocm:gfx942 --tensor-cores -o %t.f16.hsaco
// RUN: llvm-readelf -h %t.f16.hsaco | FileCheck %s --check-prefix=HSACO
// At the linalg phase each kernel is one gpu.launch on amdgpu.mfma.
// RUN: fuser compile %t.bf16.mlir --target rocm:gfx942 --tensor-cores --emit mlir --compile-to linalg -o %t.linalg.mlir
// RUN: FileCheck %s --check-prefix=LINALG < %t.linalg.mlir
// Without the flag the same model's 16-bit convolutions go op by op.
// RUN: fuser compile %t.f16.mlir --target rocm:gfx942 --emit amdgcn -o %t.plain.s
// RUN: FileCheck %s --check-prefix=PLAIN < %t.plain.s

// CHECK-LABEL: resnet_bottleneck_k1_conv_kernel:
// CHECK: ds_write_b16
// CHECK: s_barrier
// CHECK: ds_read{{2?}}_b64
// F16-GFX942: v_mfma_f32_16x16x16_f16
// BF16-GFX942: v_mfma_f32_16x16x16_bf16
// F16-GFX90A: v_mfma_f32_16x16x16f16
// BF16-GFX90A: v_mfma_f32_16x16x16bf16_1k
// CHECK: .amdhsa_kernel resnet_bottleneck_k1_conv_kernel
// The kernels' metadata comes last: no kernel spills registers.
// CHECK-NOT: _spill_count: {{[1-9]}}

// LINALG: gpu.launch
// LINALG-SAME: workgroup(%{{.*}} : memref<64x32xbf16, #gpu.address_space<workgroup>>, %{{.*}} : memref<64x32xbf16, #gpu.address_space<workgroup>>)
// LINALG: vector.load %{{.*}}[%{{.*}}, %{{.*}}] : memref<64x32xbf16, #gpu.address_space<workgroup>>, vector<4xbf16>
// LINALG: amdgpu.mfma 16x16x16 %{{.*}} * %{{.*}} + %{{.*}} blgp = {{ *}}none : vector<4xbf16>, vector<4xbf16>, vector<4xf32>

// HSACO: Machine: EM_AMDGPU
// HSACO: gfx942

// PLAIN-NOT: v_mfma
