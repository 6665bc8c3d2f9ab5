// RUN: not fuser-opt %s --pass-pipeline='builtin.module(func.func(graph-simplify{max=1}))' 2>&1 | FileCheck %s --check-prefix=OPTION
// RUN: not fuser-opt %s --pass-pipeline='builtin.module(no-such-pass)' 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not fuser-opt %s --pass-pipeline='builtin.module(func.func(cse)' 2>&1 | FileCheck %s --check-prefix=SYNTAX
// RUN: not fuser-opt %s --pass-pipeline='builtin.module(canonicalize{no-such-option=1})' 2>&1 | FileCheck %s --check-prefix=UPSTREAM
// RUN: not fuser-opt %s --pass-pipeline='builtin.module(cse)' --cse 2>&1 | FileCheck %s --check-prefix=BOTH

// OPTION: error: pass 'graph-simplify' has no option 'max' (it takes no options)
// UNKNOWN: error: 'no-such-pass' does not refer to a registered pass (see --list-passes)
// SYNTAX: error: invalid pass pipeline 'builtin.module(func.func(cse)': expected ')' at offset 29
// UPSTREAM: error: {{.*}}no-such-option
// BOTH: use either --pass-pipeline or individual pass flags, not both
func.func @f() {
  return
}
