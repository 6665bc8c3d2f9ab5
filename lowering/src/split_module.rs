//! Splitting an llvm-dialect module into parts that LLVM compiles on separate threads
//! and that link back into one program. Each part is a copy of the module in which the
//! functions given to other parts are declarations only, and the globals that its own
//! functions do not take the address of are gone (so the weights go to the part of the
//! function that uses them). Function definitions become public, so that a call into
//! another part links; the shared library exports only its entry anyway.

use crate::ffi::entry_block_operations;
use fuser_dialects::{
    accessors::op_name,
    ffi::{
        clone_operation, erase_operation, make, nested_operations, parse_attribute, remove_attribute, set_attribute,
    },
};
use melior::ir::{
    BlockLike, Module, Region, RegionLike,
    attribute::StringAttribute,
    operation::{OperationBuilder, OperationLike, OperationRef},
};
use std::collections::HashSet;

/// The symbol name of a top-level op.
fn symbol(op: &OperationRef) -> Option<String> {
    op.attribute("sym_name")
        .ok()
        .and_then(|a| StringAttribute::try_from(a).ok())
        .map(fuser_dialects::ffi::string_value)
}

/// Whether `op` is an `llvm.func` with a body.
fn is_definition(op: &OperationRef) -> bool {
    op_name(op) == "llvm.func" && op.region(0).ok().and_then(|r| r.first_block()).is_some()
}

/// Splits `module` into at most `parts` modules (fewer when it has fewer function
/// definitions), balancing the number of operations in each part's functions; the part
/// with the most globals (the weights) comes first. With one part, or a module of one
/// function, the result is `None`: compile it whole.
pub fn split_for_codegen<'c>(module: &Module<'c>, parts: usize) -> Option<Vec<Module<'c>>> {
    let definitions: Vec<(String, usize)> = entry_block_operations(module.as_operation())
        .into_iter()
        .filter(is_definition)
        .filter_map(|op| Some((symbol(&op)?, nested_operations(op).len())))
        .collect();
    let parts = parts.min(definitions.len());
    if parts <= 1 {
        return None;
    }
    // Largest first, each to the lightest part.
    let mut order: Vec<&(String, usize)> = definitions.iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut load = vec![0usize; parts];
    let mut owner: Vec<HashSet<&str>> = vec![HashSet::new(); parts];
    for (name, size) in order {
        let lightest = (0..parts).min_by_key(|&p| load[p]).unwrap_or(0);
        load[lightest] += size;
        owner[lightest].insert(name.as_str());
    }
    let mut parts: Vec<Module<'c>> = owner.iter().map(|names| part(module, names)).collect::<Option<_>>()?;
    // The part with the most globals (the weights) first.
    let globals = |m: &Module| {
        entry_block_operations(m.as_operation())
            .iter()
            .filter(|op| op_name(*op) == "llvm.mlir.global")
            .count()
    };
    parts.sort_by_key(|m| std::cmp::Reverse(globals(m)));
    Some(parts)
}

/// A copy of `module` that defines the functions `names` only.
fn part<'c>(module: &Module<'c>, names: &HashSet<&str>) -> Option<Module<'c>> {
    let copy = Module::from_operation(clone_operation(module.as_operation()))?;
    let context = copy.as_operation().context();
    let external = parse_attribute(context, "#llvm.linkage<external>")?;
    for op in entry_block_operations(copy.as_operation()) {
        if !is_definition(&op) {
            continue;
        }
        let name = symbol(&op)?;
        if names.contains(name.as_str()) {
            // Public and external, so other parts can call it and LLVM keeps it.
            remove_attribute(op, "sym_visibility");
            set_attribute(op, "linkage", external);
            continue;
        }
        let declaration = OperationBuilder::new("llvm.func", op.location())
            .add_attributes(&[
                (make::identifier(context, "sym_name"), make::string(context, &name)),
                (
                    make::identifier(context, "function_type"),
                    op.attribute("function_type").ok()?,
                ),
                (make::identifier(context, "linkage"), external),
            ])
            .add_regions([Region::new()])
            .build()
            .ok()?;
        let block = op.block()?;
        block.insert_operation_before(op, declaration);
        erase_operation(op);
    }
    // Globals whose address no remaining function takes.
    let used: HashSet<String> = nested_operations(copy.as_operation())
        .into_iter()
        .filter(|op| op_name(op) == "llvm.mlir.addressof")
        .filter_map(|op| {
            op.attribute("global_name")
                .ok()
                .map(|a| a.to_string().trim_start_matches('@').to_string())
        })
        .collect();
    for op in entry_block_operations(copy.as_operation()) {
        if op_name(&op) == "llvm.mlir.global" && symbol(&op).is_some_and(|s| !used.contains(&s)) {
            erase_operation(op);
        }
    }
    copy.as_operation().verify().then_some(copy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuser_dialects::{create_context, ffi::parse_module};

    const MODULE: &str = r#"
llvm.mlir.global private constant @weights(dense<[1.0, 2.0]> : tensor<2xf32>) {addr_space = 0 : i32} : !llvm.array<2 x f32>
llvm.func @kernel_a(%arg0: !llvm.ptr) attributes {sym_visibility = "private"} {
  llvm.return
}
llvm.func @kernel_b(%arg0: !llvm.ptr) attributes {sym_visibility = "private"} {
  %0 = llvm.mlir.constant(1.0 : f32) : f32
  llvm.store %0, %arg0 : f32, !llvm.ptr
  llvm.return
}
llvm.func @entry(%arg0: !llvm.ptr) {
  %w = llvm.mlir.addressof @weights : !llvm.ptr
  llvm.call @kernel_a(%w) : (!llvm.ptr) -> ()
  llvm.call @kernel_b(%arg0) : (!llvm.ptr) -> ()
  llvm.return
}
"#;

    fn definitions(module: &Module) -> Vec<String> {
        entry_block_operations(module.as_operation())
            .into_iter()
            .filter(is_definition)
            .filter_map(|op| symbol(&op))
            .collect()
    }

    #[test]
    fn parts_define_each_function_once_and_keep_globals_with_their_users() {
        let context = create_context().unwrap();
        let module = parse_module(&context, MODULE, "split.mlir").unwrap();
        assert!(split_for_codegen(&module, 1).is_none());
        let parts = split_for_codegen(&module, 2).expect("two parts");
        assert_eq!(parts.len(), 2);
        let mut defined: Vec<String> = parts.iter().flat_map(definitions).collect();
        defined.sort();
        assert_eq!(defined, ["entry", "kernel_a", "kernel_b"]);
        // The weights go with the entry, which takes their address, and come first.
        let text: Vec<String> = parts.iter().map(|p| p.as_operation().to_string()).collect();
        assert!(definitions(&parts[0]).contains(&"entry".to_string()));
        assert!(
            text[0].contains("@weights(") && !text[1].contains("@weights("),
            "{text:?}"
        );
        // Definitions are public, so calls from the other part link.
        assert!(text.iter().all(|t| !t.contains("sym_visibility")), "{text:?}");
    }
}
