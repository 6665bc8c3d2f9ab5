// RUN: fuser-translate --to llvm-ir %s | FileCheck %s
// RUN: not fuser-translate --to llvm-ir %S/Inputs/not-llvm.mlir 2>&1 | FileCheck %s --check-prefix=ERROR

// CHECK: define i32 @add(i32 %0, i32 %1)
// CHECK-NEXT: %3 = add i32 %0, %1
// CHECK-NEXT: ret i32 %3
llvm.func @add(%a: i32, %b: i32) -> i32 {
  %0 = llvm.add %a, %b : i32
  llvm.return %0 : i32
}

// ERROR: error: {{.*}}
