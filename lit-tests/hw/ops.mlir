// RUN: fuser-opt %s > %t.1.mlir
// RUN: fuser-opt %t.1.mlir > %t.2.mlir
// RUN: diff %t.1.mlir %t.2.mlir
// RUN: FileCheck %s < %t.1.mlir

func.func private @kernel_0(%a: memref<?xi8>, %b: memref<?xi8>) attributes {ftensor.kernel} {
  return
}

// CHECK-LABEL: func.func @schedule
func.func @schedule(%input: memref<?xi8>) {
  // CHECK: "hw.target"() {chip = "x86-64-v4", features = "+avx512f,+fma", kind = "cpu"}
  "hw.target"() {kind = "cpu", chip = "x86-64-v4", features = "+avx512f,+fma"} : () -> ()
  // CHECK: "hw.alloc"() {arena = "activations", offset = 64 : i64, size = 1024 : i64}
  %buf = "hw.alloc"() {arena = "activations", offset = 64 : i64, size = 1024 : i64} : () -> memref<?xi8>
  // CHECK: "hw.copy"
  "hw.copy"(%input, %buf) {stream = 0 : i64} : (memref<?xi8>, memref<?xi8>) -> ()
  // CHECK: "hw.launch"({{.*}}) {args = [{buffer = 0 : i64, byte_offset = 0 : i64, offset = 0 : i64, sizes = array<i64: 2, 8>, strides = array<i64: 8, 1>}, {buffer = 1 : i64, byte_offset = 64 : i64, offset = 2 : i64, sizes = array<i64: 4>, strides = array<i64: 1>}, {index = 7 : i64}], block = array<i64: 1>, from = "k", grid = array<i64: 1>, kernel = @kernel_0, shared_bytes = 0 : i64, stream = 0 : i64}
  "hw.launch"(%input, %buf) {kernel = @kernel_0, grid = array<i64: 1>, block = array<i64: 1>, shared_bytes = 0 : i64, stream = 0 : i64, args = [{buffer = 0 : i64, byte_offset = 0 : i64, offset = 0 : i64, sizes = array<i64: 2, 8>, strides = array<i64: 8, 1>}, {buffer = 1 : i64, byte_offset = 64 : i64, offset = 2 : i64, sizes = array<i64: 4>, strides = array<i64: 1>}, {index = 7 : i64}], from = "k"} : (memref<?xi8>, memref<?xi8>) -> ()
  // CHECK: "hw.wait"() {stream = 0 : i64}
  "hw.wait"() {stream = 0 : i64} : () -> ()
  return
}
