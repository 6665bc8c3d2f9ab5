// RUN: fuser-opt %s --verify-diagnostics --gpu-tile-parallel-loops

// A loop with a bound that is not a constant (a dynamic shape) is reported at its location.
func.func @dynamic(%x: memref<?xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  // expected-error @+1 {{gpu-tile-parallel-loops: the GPU mapping needs loops from 0 to a constant by 1 (static shapes)}}
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    scf.reduce
  }
  return
}
