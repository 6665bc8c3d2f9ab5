// RUN: fuser-opt %s --math-expand-erf | FileCheck %s

// An f32 erf becomes arithmetic and one exp (the values are property-tested against the
// reference evaluator in passes/src/gpu_tests.rs).
// CHECK-LABEL: func.func @erf
// CHECK-NOT: math.erf
// CHECK: math.absf
// CHECK: math.exp
// CHECK: math.copysign
// CHECK: arith.select
// CHECK-NOT: math.erf
func.func @erf(%x: f32) -> f32 {
  %y = math.erf %x : f32
  return %y : f32
}
