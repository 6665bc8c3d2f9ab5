//! Safe wrappers over the few MLIR C API calls melior 0.27 does not expose.
//!
//! # Safety
//! Every function takes melior handles, which are valid for their lifetimes; each call
//! below only reads or mutates IR that those handles own, as the C API documents.

use melior::{
    Context, ContextRef,
    ir::{Location, OperationRef, Type, TypeLike, Value, ValueLike, operation::OperationLike},
};
use mlir_sys::{
    mlirEmitError, mlirOpOperandIsNull, mlirOperationDestroy, mlirShapedTypeGetDimSize, mlirShapedTypeGetElementType,
    mlirShapedTypeGetRank, mlirShapedTypeIsDynamicDim, mlirTypeIsARankedTensor, mlirValueGetFirstUse,
    mlirValueReplaceAllUsesOfWith,
};
use std::ffi::CString;

/// The text of a string attribute. melior's `StringAttribute::value` indexes the last
/// byte of the string to look for a terminator, which panics on an empty string (an
/// ONNX attribute may well be `""`); this reads the C API's (pointer, length) through
/// [`string_ref_text`].
pub fn string_value(attribute: melior::ir::attribute::StringAttribute) -> String {
    use melior::ir::AttributeLike;
    // SAFETY: the attribute is valid; the reference it gives lives as long as its context.
    string_ref_text(unsafe { melior::StringRef::from_raw(mlir_sys::mlirStringAttrGetValue(attribute.to_raw())) })
}

/// Shape and element type of a ranked tensor; `None` dims are dynamic (`?`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub shape: Vec<Option<i64>>,
    /// The element type as MLIR prints it (`f32`, `i1`, `ui8`, `bf16`, ...).
    pub element: String,
}

impl TensorInfo {
    /// The static shape, if every dim is known.
    pub fn static_shape(&self) -> Option<Vec<i64>> {
        self.shape.iter().copied().collect()
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The number of elements, if static.
    pub fn element_count(&self) -> Option<i64> {
        self.static_shape().map(|s| s.iter().product())
    }
}

/// Shape and element type of `ty` if it is a ranked tensor.
pub fn tensor_info(ty: Type) -> Option<TensorInfo> {
    let raw = ty.to_raw();
    // SAFETY: `raw` is a valid type handle; the shaped-type queries are only made on a
    // ranked tensor.
    unsafe {
        if !mlirTypeIsARankedTensor(raw) {
            return None;
        }
        let rank = mlirShapedTypeGetRank(raw) as isize;
        let shape = (0..rank)
            .map(|d| (!mlirShapedTypeIsDynamicDim(raw, d)).then(|| mlirShapedTypeGetDimSize(raw, d)))
            .collect();
        let element = Type::from_raw(mlirShapedTypeGetElementType(raw)).to_string();
        Some(TensorInfo { shape, element })
    }
}

/// Emits an error diagnostic at `location` through the context's diagnostic handlers,
/// so that Rust-side checks report exactly like MLIR's own verifier.
pub fn emit_error(location: Location, message: &str) {
    let message = CString::new(message.replace('\0', " ")).expect("no interior NUL");
    // SAFETY: the location is valid and the message outlives the call.
    unsafe { mlirEmitError(location.to_raw(), message.as_ptr()) }
}

/// Replaces every use of `of` with `with`.
pub fn replace_all_uses(of: Value, with: Value) {
    // SAFETY: both values are valid and belong to the same context.
    unsafe { mlirValueReplaceAllUsesOfWith(of.to_raw(), with.to_raw()) }
}

/// A map key for `value`: its handle (stable while the value lives).
pub fn value_key(value: Value) -> usize {
    value.to_raw().ptr as usize
}

/// Whether `value` has any use (melior 0.27's results lack `has_uses`).
pub fn has_uses(value: Value) -> bool {
    // SAFETY: `value` is valid; the returned operand is only tested for null.
    unsafe { !mlirOpOperandIsNull(mlirValueGetFirstUse(value.to_raw())) }
}

/// Removes `op` from its block and destroys it. The caller must not use `op` (or any
/// handle to its results) afterwards, and its results must have no uses.
pub fn erase_operation(op: OperationRef) {
    debug_assert!(op.results().all(|r| !has_uses(r.into())));
    // SAFETY: `mlirOperationDestroy` erases the op from its parent block; the caller
    // guarantees no handle to it is used again.
    unsafe { mlirOperationDestroy(op.to_raw()) }
}

/// Attribute and identifier constructors that need only a `ContextRef` (melior's
/// constructors take `&Context`, which a pass or builder holding a location lacks).
pub mod make {
    use melior::{
        ContextRef, StringRef,
        ir::{Attribute, Identifier},
    };
    use mlir_sys::{
        mlirDenseI32ArrayGet, mlirDenseI64ArrayGet, mlirF32TypeGet, mlirFloatAttrDoubleGet, mlirIdentifierGet,
        mlirIntegerAttrGet, mlirIntegerTypeGet, mlirStringAttrGet,
    };

    /// The raw handle of a context reference. melior's `ContextRef::to_ref` reinterprets
    /// the `ContextRef` itself as a `Context`, so the result is read while `context` (the
    /// caller's value) is still alive, and never kept.
    fn raw(context: &ContextRef) -> mlir_sys::MlirContext {
        // SAFETY: `context` outlives this expression.
        unsafe { context.to_ref() }.to_raw()
    }

    // SAFETY (all functions): the context is valid for 'c; the C API copies the data it
    // is given into uniqued storage owned by the context.

    pub fn i64_array<'c>(context: ContextRef<'c>, values: &[i64]) -> Attribute<'c> {
        unsafe {
            Attribute::from_raw(mlirDenseI64ArrayGet(
                raw(&context),
                values.len() as isize,
                values.as_ptr(),
            ))
        }
    }
    pub fn i32_array<'c>(context: ContextRef<'c>, values: &[i32]) -> Attribute<'c> {
        unsafe {
            Attribute::from_raw(mlirDenseI32ArrayGet(
                raw(&context),
                values.len() as isize,
                values.as_ptr(),
            ))
        }
    }
    pub fn i64<'c>(context: ContextRef<'c>, value: i64) -> Attribute<'c> {
        unsafe { Attribute::from_raw(mlirIntegerAttrGet(mlirIntegerTypeGet(raw(&context), 64), value)) }
    }
    pub fn f32<'c>(context: ContextRef<'c>, value: f64) -> Attribute<'c> {
        unsafe {
            Attribute::from_raw(mlirFloatAttrDoubleGet(
                raw(&context),
                mlirF32TypeGet(raw(&context)),
                value,
            ))
        }
    }
    pub fn string<'c>(context: ContextRef<'c>, value: &str) -> Attribute<'c> {
        unsafe { Attribute::from_raw(mlirStringAttrGet(raw(&context), StringRef::new(value).to_raw())) }
    }
    pub fn identifier<'c>(context: ContextRef<'c>, name: &str) -> Identifier<'c> {
        unsafe { Identifier::from_raw(mlirIdentifierGet(raw(&context), StringRef::new(name).to_raw())) }
    }
}

/// The elements of a dense elements attribute whose element type is `element`, read with
/// the C API getters `splat` and `at` (splats expanded).
///
/// # Safety
/// `splat` and `at` must be the getters for `element`.
unsafe fn dense_values<T: Copy>(
    attribute: melior::ir::Attribute,
    element: &str,
    splat: unsafe extern "C" fn(mlir_sys::MlirAttribute) -> T,
    at: unsafe extern "C" fn(mlir_sys::MlirAttribute, isize) -> T,
) -> Option<Vec<T>> {
    use melior::ir::attribute::AttributeLike;
    use mlir_sys::{mlirDenseElementsAttrIsSplat, mlirElementsAttrGetNumElements};
    let info = tensor_info(attribute.r#type())?;
    if info.element != element || !(attribute.is_dense_int_elements() || attribute.is_dense_fp_elements()) {
        return None;
    }
    let raw = attribute.to_raw();
    // SAFETY: `raw` is a dense elements attribute of `element` elements and the getters
    // match it (the caller's contract), for every index below its element count.
    unsafe {
        let count = mlirElementsAttrGetNumElements(raw);
        if mlirDenseElementsAttrIsSplat(raw) {
            return Some(vec![splat(raw); count.max(0) as usize]);
        }
        Some((0..count).map(|i| at(raw, i as isize)).collect())
    }
}

/// The values of a dense elements attribute of `i64` elements (splats expanded).
pub fn dense_i64_values(attribute: melior::ir::Attribute) -> Option<Vec<i64>> {
    use mlir_sys::{mlirDenseElementsAttrGetInt64SplatValue, mlirDenseElementsAttrGetInt64Value};
    // SAFETY: the i64 getters for i64 elements.
    unsafe {
        dense_values(
            attribute,
            "i64",
            mlirDenseElementsAttrGetInt64SplatValue,
            mlirDenseElementsAttrGetInt64Value,
        )
    }
}

/// The values of a dense elements attribute of `f32` elements (splats expanded).
pub fn dense_f32_values(attribute: melior::ir::Attribute) -> Option<Vec<f32>> {
    use mlir_sys::{mlirDenseElementsAttrGetFloatSplatValue, mlirDenseElementsAttrGetFloatValue};
    // SAFETY: the f32 getters for f32 elements.
    unsafe {
        dense_values(
            attribute,
            "f32",
            mlirDenseElementsAttrGetFloatSplatValue,
            mlirDenseElementsAttrGetFloatValue,
        )
    }
}

/// Sets operand `index` of `op` to `value`.
pub fn set_operand(op: OperationRef, index: usize, value: Value) {
    // SAFETY: `op` and `value` are valid; MLIR checks nothing here, so callers keep the
    // types consistent (the verifier runs after every pass).
    unsafe { mlir_sys::mlirOperationSetOperand(op.to_raw(), index as isize, value.to_raw()) }
}

/// Changes the type of `value` in place (a result or block argument); callers keep its
/// producer and users consistent.
pub fn set_value_type(value: Value, ty: melior::ir::Type) {
    // SAFETY: both handles are valid; the verifier checks the op afterwards.
    unsafe { mlir_sys::mlirValueSetType(value.to_raw(), ty.to_raw()) }
}

/// Points every use of `of` at `with`, except the uses by `except`.
pub fn replace_uses_except(of: Value, with: Value, except: OperationRef) {
    let mut exceptions = [except.to_raw()];
    // SAFETY: valid handles; one exception in a live array.
    unsafe { mlir_sys::mlirValueReplaceAllUsesExcept(of.to_raw(), with.to_raw(), 1, exceptions.as_mut_ptr()) }
}

/// Every operation nested under `root` (root included), in pre-order. melior's `walk`
/// hands out references scoped to the callback; the handles returned here live as long
/// as `root`'s borrow, and stay valid until the op they name is erased.
pub fn nested_operations<'c, 'a>(root: OperationRef<'c, 'a>) -> Vec<OperationRef<'c, 'a>> {
    use melior::ir::operation::{WalkOrder, WalkResult};
    let mut raw = Vec::new();
    root.walk(WalkOrder::PreOrder, |op| {
        raw.push(op.to_raw());
        WalkResult::Advance
    });
    // SAFETY: each handle names an op owned by `root`'s IR, valid for `'a` unless erased.
    raw.into_iter().map(|r| unsafe { OperationRef::from_raw(r) }).collect()
}

/// Whether a location's file name is the one MLIR's string parser gives a buffer.
pub fn is_unnamed_buffer(file: &str) -> bool {
    file.is_empty() || file == "-"
}

/// Parses `source` into a module, wrapping top-level ops in an implicit `builtin.module`
/// as mlir-opt does. Locations name the buffer `source_name`. Returns `None` after
/// diagnostics were emitted when parsing or MLIR verification fails; parser diagnostics
/// name an unnamed buffer ([`is_unnamed_buffer`]), which the tools map to `source_name`.
pub fn parse_module<'c>(context: &'c Context, source: &str, source_name: &str) -> Option<melior::ir::Module<'c>> {
    // `mlirModuleCreateParse` wraps in a module but names no source; the C API's
    // `mlirOperationCreateParse` names the source but cannot hold several top-level ops.
    // So parse unnamed and rename the locations afterwards.
    use melior::ir::{BlockLike, RegionLike};
    // MLIR's lexer needs a NUL-terminated buffer (melior's `Module::parse` panics on an
    // interior NUL), so a NUL in the text is reported as a located error instead.
    if let Some(offset) = source.find('\0') {
        let line = source[..offset].matches('\n').count() + 1;
        let column = offset - source[..offset].rfind('\n').map_or(0, |n| n + 1) + 1;
        emit_error(
            Location::new(context, source_name, line, column),
            "unexpected NUL byte in the input",
        );
        return None;
    }
    let module = melior::ir::Module::parse(context, source)?;
    let rename = |location: Location<'c>| -> Option<Location<'c>> {
        let unnamed = location.is_file_line_col_range()
            && location
                .file_line_col_range_filename()
                .as_string_ref()
                .as_str()
                .map(is_unnamed_buffer)
                .unwrap_or(false);
        unnamed.then(|| {
            Location::new(
                context,
                source_name,
                location.file_line_col_range_start_line(),
                location.file_line_col_range_start_column(),
            )
        })
    };
    for op in nested_operations(module.as_operation()) {
        if let Some(renamed) = rename(op.location()) {
            // SAFETY: `op` is owned by `module`, which is alive and not otherwise borrowed.
            unsafe { mlir_sys::mlirOperationSetLocation(op.to_raw(), renamed.to_raw()) };
        }
        for region in op.regions() {
            let mut block = region.first_block();
            while let Some(current) = block {
                for index in 0..current.argument_count() {
                    let Ok(argument) = current.argument(index) else {
                        continue;
                    };
                    if let Some(renamed) = rename(argument.location()) {
                        // SAFETY: as above, for a block argument of an op of `module`.
                        unsafe { mlir_sys::mlirBlockArgumentSetLocation(argument.to_raw(), renamed.to_raw()) };
                    }
                }
                block = current.next_in_region();
            }
        }
    }
    Some(module)
}

/// The value of a dense elements attribute of one of the graph dialect's element types.
pub fn dense_to_tensor(attribute: melior::ir::Attribute) -> Option<crate::semantics::Tensor> {
    use crate::semantics::{DType, Tensor};
    use half::{bf16, f16};
    use melior::ir::attribute::AttributeLike;
    use mlir_sys::*;
    use ndarray::{ArrayD, IxDyn};
    if !(attribute.is_dense_int_elements() || attribute.is_dense_fp_elements()) {
        return None;
    }
    let info = tensor_info(attribute.r#type())?;
    let dtype = DType::from_mlir(&info.element)?;
    let shape: Vec<usize> = info.static_shape()?.into_iter().map(|d| d as usize).collect();
    let raw = attribute.to_raw();
    let count: usize = shape.iter().product();
    // SAFETY: `raw` is a dense elements attribute of `dtype` elements. Its raw buffer
    // holds `count` elements of that type's width, little-endian (one element when
    // splat), read with the matching Rust type and an index below `count`; i1 elements
    // are read through the C API's getter, which maps every index of a splat to its value.
    unsafe {
        let splat = mlirDenseElementsAttrIsSplat(raw);
        let data = mlirDenseElementsAttrGetRawData(raw);
        fn read<T: Copy, U>(data: *const std::ffi::c_void, splat: bool, count: usize, f: impl Fn(T) -> U) -> Vec<U> {
            let data = data.cast::<T>();
            // SAFETY: as above (the caller's contract).
            (0..count)
                .map(|i| f(unsafe { *data.add(if splat { 0 } else { i }) }))
                .collect()
        }
        let floats = |values: Vec<f64>| {
            Some(Tensor::float(
                dtype,
                ArrayD::from_shape_vec(IxDyn(&shape), values).ok()?,
            ))
        };
        let ints = |values: Vec<i64>| Some(Tensor::int(dtype, ArrayD::from_shape_vec(IxDyn(&shape), values).ok()?));
        match dtype {
            DType::F32 => floats(read(data, splat, count, |v: f32| v as f64)),
            DType::F64 => floats(read(data, splat, count, |v: f64| v)),
            DType::F16 => floats(read(data, splat, count, |v: u16| f16::from_bits(v).to_f64())),
            DType::BF16 => floats(read(data, splat, count, |v: u16| bf16::from_bits(v).to_f64())),
            DType::I8 => ints(read(data, splat, count, |v: i8| v as i64)),
            DType::U8 => ints(read(data, splat, count, |v: u8| v as i64)),
            DType::I32 => ints(read(data, splat, count, |v: i32| v as i64)),
            DType::I64 => ints(read(data, splat, count, |v: i64| v)),
            DType::Bool => Some(Tensor::bool(
                ArrayD::from_shape_vec(
                    IxDyn(&shape),
                    (0..count)
                        .map(|i| mlirDenseElementsAttrGetBoolValue(raw, i as isize))
                        .collect(),
                )
                .ok()?,
            )),
        }
    }
}

/// Parses a type in the context a `ContextRef` names (melior's `Type::parse` wants `&Context`).
pub fn parse_type<'c>(context: ContextRef<'c>, text: &str) -> Option<Type<'c>> {
    use melior::StringRef;
    // SAFETY: the context is valid for 'c; the parser copies the text.
    unsafe {
        let raw = mlir_sys::mlirTypeParseGet(context_raw(&context), StringRef::new(text).to_raw());
        (!raw.ptr.is_null()).then(|| Type::from_raw(raw))
    }
}

/// Parses an attribute in the context a `ContextRef` names.
pub fn parse_attribute<'c>(context: ContextRef<'c>, text: &str) -> Option<melior::ir::Attribute<'c>> {
    use melior::StringRef;
    // SAFETY: the context is valid for 'c; the parser copies the text.
    unsafe {
        let raw = mlir_sys::mlirAttributeParseGet(context_raw(&context), StringRef::new(text).to_raw());
        (!raw.ptr.is_null()).then(|| melior::ir::Attribute::from_raw(raw))
    }
}

/// The raw handle of a context reference. melior's `ContextRef::to_ref` reinterprets the
/// `ContextRef` itself as a `Context`, so the handle is read while `context` is alive.
fn context_raw(context: &ContextRef) -> mlir_sys::MlirContext {
    // SAFETY: `context` outlives this expression, and the result is a plain handle.
    unsafe { context.to_ref() }.to_raw()
}

/// A function type in the context a `ContextRef` names.
pub fn function_type<'c>(context: ContextRef<'c>, inputs: &[Type<'c>], results: &[Type<'c>]) -> Type<'c> {
    let inputs: Vec<mlir_sys::MlirType> = inputs.iter().map(|t| t.to_raw()).collect();
    let results: Vec<mlir_sys::MlirType> = results.iter().map(|t| t.to_raw()).collect();
    // SAFETY: the context and types are valid; the C API copies both arrays.
    unsafe {
        Type::from_raw(mlir_sys::mlirFunctionTypeGet(
            context_raw(&context),
            inputs.len() as isize,
            inputs.as_ptr(),
            results.len() as isize,
            results.as_ptr(),
        ))
    }
}

/// Sets (or replaces) attribute `name` of `op`.
pub fn set_attribute(op: OperationRef, name: &str, attribute: melior::ir::Attribute) {
    use melior::StringRef;
    // SAFETY: `op` and `attribute` are valid; the name is copied into an identifier.
    use melior::ir::attribute::AttributeLike;
    unsafe { mlir_sys::mlirOperationSetAttributeByName(op.to_raw(), StringRef::new(name).to_raw(), attribute.to_raw()) }
}

/// A dense elements attribute from little-endian element bytes (one byte per element for
/// i1 is not MLIR's raw layout, so booleans go through `constants::tensor_attribute`).
pub fn dense_from_bytes<'c>(ty: Type<'c>, bytes: &[u8]) -> Option<melior::ir::Attribute<'c>> {
    // SAFETY: the type is a static tensor type; MLIR validates the buffer size against it
    // (returning null when it does not fit) and copies the bytes.
    unsafe {
        let raw = mlir_sys::mlirDenseElementsAttrRawBufferGet(ty.to_raw(), bytes.len(), bytes.as_ptr().cast());
        (!raw.ptr.is_null()).then(|| melior::ir::Attribute::from_raw(raw))
    }
}

/// Parses MLIR bytecode (or text) from bytes. Bytecode may hold NUL bytes, so this does
/// not go through a C string. Returns `None` after emitting diagnostics on failure.
pub fn parse_module_bytes<'c>(context: &'c Context, bytes: &[u8]) -> Option<melior::ir::Module<'c>> {
    let source = mlir_sys::MlirStringRef {
        data: bytes.as_ptr().cast(),
        length: bytes.len(),
    };
    // SAFETY: `source` points into `bytes`, alive for the call; the parser copies what it
    // keeps and returns an owned module or null.
    unsafe { melior::ir::Module::from_option_raw(mlir_sys::mlirModuleCreateParse(context.to_raw(), source)) }
}

/// A detached deep copy of `op` (regions included), owned by the caller until inserted
/// into a block. Operands still name the original values.
pub fn clone_operation<'c>(op: OperationRef<'c, '_>) -> melior::ir::Operation<'c> {
    // SAFETY: `op` is valid; the clone is a new, unparented op that the returned value owns.
    unsafe { melior::ir::Operation::from_raw(mlir_sys::mlirOperationClone(op.to_raw())) }
}

/// Whether `value` has exactly one use.
pub fn has_single_use(value: Value) -> bool {
    // SAFETY: `value` is valid; operands returned by the use list are only tested for null.
    unsafe {
        let first = mlirValueGetFirstUse(value.to_raw());
        !mlirOpOperandIsNull(first) && mlirOpOperandIsNull(mlir_sys::mlirOpOperandGetNextUse(first))
    }
}

/// The text of a string reference. melior's `StringRef::as_str` indexes the last byte and
/// panics on an empty string (an empty location name, say), so read the raw parts.
pub fn string_ref_text(text: melior::StringRef) -> String {
    let raw = text.to_raw();
    if raw.length == 0 || raw.data.is_null() {
        return String::new();
    }
    // SAFETY: a non-empty MLIR string reference points at `length` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(raw.data.cast::<u8>(), raw.length) };
    String::from_utf8_lossy(bytes).trim_end_matches('\0').to_string()
}

/// A dense elements attribute with the same elements as `attribute` and the shape of
/// `ty` (same element count), sharing its storage; `None` if it is not dense.
pub fn reshape_dense<'c>(attribute: melior::ir::Attribute<'c>, ty: Type<'c>) -> Option<melior::ir::Attribute<'c>> {
    use melior::ir::attribute::AttributeLike;
    // SAFETY: both handles are valid; a null result (not dense, or a count mismatch) is
    // checked before use.
    unsafe {
        if !mlir_sys::mlirAttributeIsADenseElements(attribute.to_raw()) {
            return None;
        }
        let raw = mlir_sys::mlirDenseElementsAttrReshapeGet(attribute.to_raw(), ty.to_raw());
        (!raw.ptr.is_null()).then(|| melior::ir::Attribute::from_raw(raw))
    }
}

/// Removes attribute `name` from `op`, if present.
pub fn remove_attribute(op: OperationRef, name: &str) {
    use melior::StringRef;
    // SAFETY: `op` is valid; the name is only read.
    unsafe {
        mlir_sys::mlirOperationRemoveAttributeByName(op.to_raw(), StringRef::new(name).to_raw());
    }
}

/// The f32 elements of a dense f32 attribute (splats expanded), read from its raw data in
/// one pass: fast for weights with millions of elements.
pub fn dense_f32_raw(attribute: melior::ir::Attribute) -> Option<Vec<f32>> {
    use melior::ir::attribute::AttributeLike;
    let info = tensor_info(attribute.r#type())?;
    if info.element != "f32" {
        return None;
    }
    let count = info.element_count()? as usize;
    let raw = dense_raw_data(attribute)?;
    let values: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    // A splat holds one value.
    Some(if values.len() == count {
        values
    } else {
        vec![values[0]; count]
    })
}

/// The bytes of one element of the shaped type `ty`, when its elements are ints or floats
/// a whole number of bytes wide (every one but `i1` and the sub-byte types).
fn element_bytes(ty: Type) -> Option<i64> {
    // SAFETY: queries on a shaped type's element type.
    unsafe {
        let element = mlir_sys::mlirShapedTypeGetElementType(ty.to_raw());
        let width = if mlir_sys::mlirTypeIsAInteger(element) {
            mlir_sys::mlirIntegerTypeGetWidth(element)
        } else if mlir_sys::mlirTypeIsAFloat(element) {
            mlir_sys::mlirFloatTypeGetWidth(element)
        } else {
            return None;
        } as i64;
        (width % 8 == 0).then_some(width / 8)
    }
}

/// The raw data of a dense elements attribute (one element for a splat), as MLIR holds
/// it: read in place, for hashing a constant's contents without a copy. `None` for any
/// other attribute.
pub fn dense_raw_data<'c>(attribute: melior::ir::Attribute<'c>) -> Option<&'c [u8]> {
    use melior::ir::attribute::AttributeLike;
    let raw = attribute.to_raw();
    // SAFETY: the attribute is a dense elements attribute (checked); it is uniqued in the
    // context, which outlives `'c`, and its raw data is `mlirDenseElementsAttrGetRawData`'s
    // buffer: one element for a splat, else all of them, of the element type's width.
    unsafe {
        if !mlir_sys::mlirAttributeIsADenseElements(raw) {
            return None;
        }
        let info = tensor_info(attribute.r#type())?;
        let width = element_bytes(attribute.r#type())? as usize;
        let count = if mlir_sys::mlirDenseElementsAttrIsSplat(raw) {
            1
        } else {
            info.element_count()? as usize
        };
        let data = mlir_sys::mlirDenseElementsAttrGetRawData(raw).cast::<u8>();
        Some(std::slice::from_raw_parts(data, count * width))
    }
}

/// The bytes of a non-splat dense attribute whose elements are whole bytes wide (every
/// int and float type but `i1`), as a `tensor<Bxi8>` attribute: the same memory,
/// element by element. Also returns the byte count, and the bytes of one element.
pub fn dense_as_bytes<'c>(attribute: melior::ir::Attribute<'c>) -> Option<(melior::ir::Attribute<'c>, i64, i64)> {
    use melior::ir::attribute::AttributeLike;
    let raw = attribute.to_raw();
    // SAFETY: the queries are made on a dense elements attribute of an int or float type
    // (checked); its raw data holds `count` elements of `width / 8` bytes when it is not
    // a splat, and is copied by the new attribute before this returns.
    unsafe {
        if !mlir_sys::mlirAttributeIsADenseElements(raw) || mlir_sys::mlirDenseElementsAttrIsSplat(raw) {
            return None;
        }
        let ty = attribute.r#type();
        let count = tensor_info(ty)?.element_count()?;
        let width = element_bytes(ty)?;
        let bytes = count * width;
        let byte_tensor = parse_type(attribute.context(), &format!("tensor<{bytes}xi8>"))?;
        let data = mlir_sys::mlirDenseElementsAttrGetRawData(raw);
        let result = mlir_sys::mlirDenseElementsAttrRawBufferGet(byte_tensor.to_raw(), bytes as usize, data);
        (!result.ptr.is_null()).then(|| (melior::ir::Attribute::from_raw(result), bytes, width))
    }
}

/// Shape and element type of `ty` if it is a static-shaped memref, and whether its layout
/// is the identity (dense, row-major, offset 0).
pub fn memref_info(ty: Type) -> Option<(TensorInfo, bool)> {
    let raw = ty.to_raw();
    // SAFETY: `raw` is a valid type handle; the shaped-type and layout queries are only
    // made on a memref.
    unsafe {
        if !mlir_sys::mlirTypeIsAMemRef(raw) {
            return None;
        }
        let rank = mlirShapedTypeGetRank(raw) as isize;
        let shape: Vec<Option<i64>> = (0..rank)
            .map(|d| (!mlirShapedTypeIsDynamicDim(raw, d)).then(|| mlirShapedTypeGetDimSize(raw, d)))
            .collect();
        let element = Type::from_raw(mlirShapedTypeGetElementType(raw)).to_string();
        let dense = mlir_sys::mlirAffineMapIsIdentity(mlir_sys::mlirMemRefTypeGetAffineMap(raw));
        Some((TensorInfo { shape, element }, dense))
    }
}

/// The name of a name location (`loc("conv1")`, an imported node's name), if it is one.
pub fn location_name(location: melior::ir::Location) -> Option<String> {
    location
        .is_name()
        .then(|| string_ref_text(location.name_value().as_string_ref()))
}

/// The callee of a `func.call`.
pub fn callee(call: &OperationRef) -> Option<String> {
    use melior::ir::attribute::FlatSymbolRefAttribute;
    let attribute = FlatSymbolRefAttribute::try_from(call.attribute("callee").ok()?).ok()?;
    Some(attribute.value().to_string())
}

/// The body block of `function` and its terminator (the return).
pub fn body_and_return<'c, 'a>(
    function: OperationRef<'c, 'a>,
) -> Result<(melior::ir::BlockRef<'c, 'a>, OperationRef<'c, 'a>), String> {
    use melior::ir::{BlockLike, RegionLike};
    let block = function
        .region(0)
        .ok()
        .and_then(|r| r.first_block())
        .ok_or("a function without a body")?;
    let ret = block.terminator().ok_or("a function without a return")?;
    Ok((block, ret))
}

/// Sets the `function_type` of `function` from its block's arguments and the operands of
/// its return, after either changed.
pub fn sync_function_type(function: OperationRef) -> Result<(), String> {
    use melior::ir::{BlockLike, attribute::TypeAttribute};
    let (block, ret) = body_and_return(function)?;
    let inputs: Vec<Type> = (0..block.argument_count())
        .map(|i| block.argument(i).map(|a| a.r#type()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let results: Vec<Type> = (0..ret.operand_count())
        .map(|i| ret.operand(i).map(|v| v.r#type()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let ty = function_type(function.context(), &inputs, &results);
    set_attribute(function, "function_type", TypeAttribute::new(ty).into());
    Ok(())
}

#[cfg(test)]
mod tests {
    use melior::ir::attribute::StringAttribute;

    /// An empty string attribute reads as "" (melior's own accessor panics on it; the ONNX
    /// fuzz target found one through a Resize with `mode = ""`).
    #[test]
    fn string_values_read_empty_and_unicode_strings() {
        let context = melior::Context::new();
        for text in ["", "nearest", "ünïcødé", "a\u{0}b"] {
            assert_eq!(super::string_value(StringAttribute::new(&context, text)), text);
        }
    }
}
