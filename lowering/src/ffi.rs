//! C API calls melior 0.27 lacks, used to splice parsed IR into a module: cloning an op
//! into a block, and walking a block's ops.
//!
//! # Safety
//! Every function takes valid handles from melior values still alive at the call; the
//! cloned op is owned by the block it is inserted into.

use melior::ir::{OperationRef, Value};
use mlir_sys::{
    mlirBlockGetArgument, mlirBlockGetFirstOperation, mlirBlockInsertOwnedOperationBefore, mlirOperationClone,
    mlirOperationGetBlock, mlirOperationGetNextInBlock, mlirOperationGetRegion, mlirRegionGetFirstBlock,
};

/// Clones `op` (with its regions) and inserts the clone right before `before`.
pub fn clone_before<'c, 'a>(op: OperationRef<'c, '_>, before: OperationRef<'c, 'a>) -> OperationRef<'c, 'a> {
    // SAFETY: see the module note; the block takes ownership of the clone.
    unsafe {
        let clone = mlirOperationClone(op.to_raw());
        let block = mlirOperationGetBlock(before.to_raw());
        mlirBlockInsertOwnedOperationBefore(block, before.to_raw(), clone);
        OperationRef::from_raw(clone)
    }
}

/// The ops of the entry block of region 0 of `op` (a function), in order.
pub fn entry_block_operations<'c, 'a>(op: OperationRef<'c, 'a>) -> Vec<OperationRef<'c, 'a>> {
    let mut out = Vec::new();
    // SAFETY: see the module note; null handles end the walk.
    unsafe {
        let block = mlirRegionGetFirstBlock(mlirOperationGetRegion(op.to_raw(), 0));
        if block.ptr.is_null() {
            return out;
        }
        let mut current = mlirBlockGetFirstOperation(block);
        while !current.ptr.is_null() {
            out.push(OperationRef::from_raw(current));
            current = mlirOperationGetNextInBlock(current);
        }
    }
    out
}

/// Argument `index` of the entry block of region 0 of `op`.
pub fn entry_argument<'c, 'a>(op: OperationRef<'c, 'a>, index: usize) -> Value<'c, 'a> {
    // SAFETY: see the module note; the caller passes an index below the argument count.
    unsafe {
        let block = mlirRegionGetFirstBlock(mlirOperationGetRegion(op.to_raw(), 0));
        Value::from_raw(mlirBlockGetArgument(block, index as isize))
    }
}

/// Parses `source` as a module in the context `context` refers to (melior's parser takes
/// a `&Context`, which a pass does not have).
pub fn parse_in<'c>(context: melior::ContextRef<'c>, source: &str) -> Option<melior::ir::Module<'c>> {
    // SAFETY: the context outlives the returned module; a null module means a parse error
    // that was reported through the context's diagnostic handlers.
    unsafe {
        let raw = mlir_sys::mlirModuleCreateParse(context.to_ref().to_raw(), melior::StringRef::new(source).to_raw());
        melior::ir::Module::from_option_raw(raw)
    }
}

/// The module parsed from `text`, each distinct text parsed once: lowerings of ops with
/// the same types and attributes share their text. `None` if it does not parse (the
/// reasons went to the context's diagnostic handlers).
pub fn parse_cached<'c, 'm>(
    context: melior::ContextRef<'c>,
    cache: &'m mut std::collections::HashMap<String, melior::ir::Module<'c>>,
    text: &str,
) -> Option<&'m melior::ir::Module<'c>> {
    if !cache.contains_key(text) {
        let module = parse_in(context, text)?;
        cache.insert(text.to_string(), module);
    }
    cache.get(text)
}

/// The op before `op` in its block (melior's `previous_in_block` is unimplemented: the C
/// API has no such call, so walk the block from its start).
pub fn previous_in_block<'c, 'a>(op: OperationRef<'c, 'a>) -> Option<OperationRef<'c, 'a>> {
    use melior::ir::{BlockLike, operation::OperationLike};
    let block = op.block()?;
    let mut previous = None;
    let mut current = block.first_operation();
    while let Some(candidate) = current {
        if candidate.to_raw().ptr == op.to_raw().ptr {
            return previous;
        }
        previous = Some(candidate);
        current = candidate.next_in_block();
    }
    None
}
