// RUN: fuser-opt %s --hw-plan-memory --split-input-file | FileCheck %s
// RUN: fuser-opt %s --hw-plan-memory --convert-hw-to-memref --split-input-file | FileCheck %s --check-prefix=LOWER

// %a dies at @k1, which defines %b: both live there, so they get different offsets;
// %c starts after %a's last use and takes %a's place.
// CHECK-LABEL: module attributes {hw.memory_plan = {arena_peak_bytes = 128 : i64, naive_activation_bytes = 48 : i64}}
// CHECK: %[[A:.+]] = "hw.alloc"() {arena = "activations", offset = [[OA:[0-9]+]] : i64, size = 16 : i64} : () -> memref<4xf32>
// CHECK: call @k0(%{{.+}}, %[[A]])
// CHECK: %[[B:.+]] = "hw.alloc"() {arena = "activations", offset = [[OB:[0-9]+]] : i64, size = 16 : i64}
// CHECK: %[[C:.+]] = "hw.alloc"() {arena = "activations", offset = [[OA]] : i64, size = 16 : i64}
// CHECK-NOT: memref.dealloc
// CHECK: return
// LOWER-LABEL: func.func @f
// LOWER: %[[ARENA:.+]] = memref.alloc() {alignment = 64 : i64} : memref<128xi8>
// LOWER: memref.view %[[ARENA]][%{{.+}}][] : memref<128xi8> to memref<4xf32>
// LOWER: memref.dealloc %[[ARENA]] : memref<128xi8>
// LOWER-NEXT: return
func.func private @k0(memref<4xf32>, memref<4xf32>)
func.func private @k1(memref<4xf32>, memref<4xf32>)
func.func @f(%x: memref<4xf32>, %out: memref<4xf32>) {
  %a = memref.alloc() : memref<4xf32>
  call @k0(%x, %a) : (memref<4xf32>, memref<4xf32>) -> ()
  %b = memref.alloc() : memref<4xf32>
  call @k1(%a, %b) : (memref<4xf32>, memref<4xf32>) -> ()
  %c = memref.alloc() : memref<4xf32>
  call @k1(%b, %c) : (memref<4xf32>, memref<4xf32>) -> ()
  call @k1(%c, %out) : (memref<4xf32>, memref<4xf32>) -> ()
  memref.dealloc %a : memref<4xf32>
  memref.dealloc %b : memref<4xf32>
  memref.dealloc %c : memref<4xf32>
  return
}

// -----

// An elementwise kernel may write over the input that dies at its call: one slot.
// CHECK-LABEL: module attributes {hw.memory_plan = {arena_peak_bytes = 64 : i64, naive_activation_bytes = 32 : i64}}
func.func private @k0(memref<4xf32>, memref<4xf32>)
func.func private @relu(memref<4xf32>, memref<4xf32>) attributes {ftensor.in_place_args = array<i64: 0>}
func.func @g(%x: memref<4xf32>, %out: memref<4xf32>) {
  %a = memref.alloc() : memref<4xf32>
  call @k0(%x, %a) : (memref<4xf32>, memref<4xf32>) -> ()
  %b = memref.alloc() : memref<4xf32>
  call @relu(%a, %b) : (memref<4xf32>, memref<4xf32>) -> ()
  call @k0(%b, %out) : (memref<4xf32>, memref<4xf32>) -> ()
  memref.dealloc %a : memref<4xf32>
  memref.dealloc %b : memref<4xf32>
  return
}

// -----

// A fused kernel may write over its residual (argument 1) where that buffer dies at the
// call and reaches it only as the residual: one slot for %a and %b.
// CHECK-LABEL: module attributes {hw.memory_plan = {arena_peak_bytes = 64 : i64, naive_activation_bytes = 32 : i64}}
func.func private @k0(memref<4xf32>, memref<4xf32>)
func.func private @conv_residual(memref<4xf32>, memref<4xf32>, memref<4xf32>) attributes {ftensor.in_place_args = array<i64: 1>}
func.func @h(%x: memref<4xf32>, %out: memref<4xf32>) {
  %a = memref.alloc() : memref<4xf32>
  call @k0(%x, %a) : (memref<4xf32>, memref<4xf32>) -> ()
  %b = memref.alloc() : memref<4xf32>
  call @conv_residual(%x, %a, %b) : (memref<4xf32>, memref<4xf32>, memref<4xf32>) -> ()
  call @k0(%b, %out) : (memref<4xf32>, memref<4xf32>) -> ()
  memref.dealloc %a : memref<4xf32>
  memref.dealloc %b : memref<4xf32>
  return
}

// -----

// The same buffer is the conv's input too (argument 0, not in place): the output gets a
// slot of its own.
// CHECK-LABEL: module attributes {hw.memory_plan = {arena_peak_bytes = 128 : i64, naive_activation_bytes = 32 : i64}}
func.func private @k0(memref<4xf32>, memref<4xf32>)
func.func private @conv_residual(memref<4xf32>, memref<4xf32>, memref<4xf32>) attributes {ftensor.in_place_args = array<i64: 1>}
func.func @i(%x: memref<4xf32>, %out: memref<4xf32>) {
  %a = memref.alloc() : memref<4xf32>
  call @k0(%x, %a) : (memref<4xf32>, memref<4xf32>) -> ()
  %b = memref.alloc() : memref<4xf32>
  call @conv_residual(%a, %a, %b) : (memref<4xf32>, memref<4xf32>, memref<4xf32>) -> ()
  call @k0(%b, %out) : (memref<4xf32>, memref<4xf32>) -> ()
  memref.dealloc %a : memref<4xf32>
  memref.dealloc %b : memref<4xf32>
  return
}
