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
  "hw.launch"(%a) {kernel = @k, grid = array<i64: 1>, block = array<i64: 1>, shared_bytes = 0 : i64, stream = 0 : i64, args = [], from = "k"} : (memref<4xf32>) -> ()
  return
}

// -----

func.func @launch_view_of_no_operand(%a: memref<?xi8>) {
  // expected-error @+1 {{'hw.launch' op kernel argument #1 in 'args': 'buffer' 1 names no operand (the launch has 1)}}
  "hw.launch"(%a) {kernel = @k, grid = array<i64: 1>, block = array<i64: 1>, shared_bytes = 0 : i64, stream = 0 : i64, args = [{index = 3 : i64}, {buffer = 1 : i64, byte_offset = 0 : i64, offset = 0 : i64, sizes = array<i64: 4>, strides = array<i64: 1>}], from = "k"} : (memref<?xi8>) -> ()
  return
}

// -----

func.func @launch_view_rank(%a: memref<?xi8>) {
  // expected-error @+1 {{'hw.launch' op kernel argument #0 in 'args': 2 sizes but 1 strides}}
  "hw.launch"(%a) {kernel = @k, grid = array<i64: 1>, block = array<i64: 1>, shared_bytes = 0 : i64, stream = 0 : i64, args = [{buffer = 0 : i64, byte_offset = 0 : i64, offset = 0 : i64, sizes = array<i64: 4, 4>, strides = array<i64: 1>}], from = "k"} : (memref<?xi8>) -> ()
  return
}

// -----

func.func @launch_arg_not_a_view(%a: memref<?xi8>) {
  // expected-error @+1 {{'hw.launch' op kernel argument #0 in 'args': 'buffer' must be an integer}}
  "hw.launch"(%a) {kernel = @k, grid = array<i64: 1>, block = array<i64: 1>, shared_bytes = 0 : i64, stream = 0 : i64, args = [{sizes = array<i64: 4>}], from = "k"} : (memref<?xi8>) -> ()
  return
}

// -----

func.func @copy_operands(%a: memref<?xi8>) {
  // expected-error @+1 {{expects exactly 2 operands, but got 1}}
  "hw.copy"(%a) {stream = 0 : i64} : (memref<?xi8>) -> ()
  return
}
