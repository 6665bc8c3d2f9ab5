// RUN: fuser-opt %s --split-input-file --verify-diagnostics

func.func @bad_kind() {
  // expected-error @+1 {{'hw.target' op attribute 'kind' must be one of cpu|cuda|rocm|ascend, got 'tpu'}}
  "hw.target"() {kind = "tpu", chip = "v5", features = ""} : () -> ()
  return
}

// -----

func.func @negative_offset() {
  // expected-error @+1 {{'hw.alloc' op attributes 'offset' and 'size' must be non-negative}}
  %b = "hw.alloc"() {arena = "a", offset = -8 : i64, size = 16 : i64} : () -> memref<16xi8>
  return
}

// -----

func.func @alloc_tensor() {
  // expected-error @+1 {{expected base type 'builtin.memref' but got 'builtin.tensor'}}
  %b = "hw.alloc"() {arena = "a", offset = 0 : i64, size = 16 : i64} : () -> tensor<16xi8>
  return
}

// -----

func.func private @k(%a: memref<4xf32>)

func.func @launch_typed_buffer(%a: memref<4xf32>) {
  // expected-error @+1 {{'hw.launch' op argument #0 has type memref<4xf32>, expected a byte buffer memref<?xi8>}}
  "hw.launch"(%a) {kernel = @k, grid = array<i64: 1>, block = array<i64: 1>, stream = 0 : i64} : (memref<4xf32>) -> ()
  return
}

// -----

func.func @copy_operands(%a: memref<?xi8>) {
  // expected-error @+1 {{expects exactly 2 operands, but got 1}}
  "hw.copy"(%a) {stream = 0 : i64} : (memref<?xi8>) -> ()
  return
}
