//! Generic helpers behind the generated typed graph-op wrappers: operand and result
//! groups (with segment sizes), attribute getters, and the op builder.

use crate::{
    ffi::make,
    spec::{Arity, AttrKind, OpSpec, SlotSpec},
};
use melior::ir::{
    Attribute, Identifier, Location, Operation, OperationRef, Type, Value,
    attribute::{
        AttributeLike, DenseI32ArrayAttribute, DenseI64ArrayAttribute, FloatAttribute, IntegerAttribute,
        StringAttribute,
    },
    operation::{OperationBuilder, OperationLike},
};

/// An attribute value handed to a generated builder.
#[derive(Debug)]
pub enum AttrValue<'c> {
    I64Array(Vec<i64>),
    Integer(i64),
    Float(f64),
    String(String),
    Attribute(Attribute<'c>),
}

/// The full name of an op (`graph.conv`).
pub fn op_name<'c>(op: &impl OperationLike<'c, 'c>) -> String {
    crate::ffi::string_ref_text(op.name().as_string_ref())
}

/// Whether `attribute` has the declared kind.
pub fn attribute_has_kind(attribute: Attribute, kind: AttrKind) -> bool {
    match kind {
        AttrKind::I64Array => attribute.is_dense_i64_array(),
        AttrKind::Integer => attribute.is_integer(),
        AttrKind::Float => attribute.is_float(),
        AttrKind::String => attribute.is_string(),
        AttrKind::DenseElements => attribute.is_dense_int_elements() || attribute.is_dense_fp_elements(),
        AttrKind::SymbolRef => attribute.is_flat_symbol_ref() || attribute.is_symbol_ref(),
        AttrKind::Array => attribute.is_array(),
    }
}

/// Whether every attribute declared by `spec` is present on `op` with its kind.
pub fn has_declared_attributes<'c, 'a>(op: &OperationRef<'c, 'a>, spec: &OpSpec) -> bool {
    spec.attributes.iter().all(|a| {
        op.attribute(a.name)
            .map(|attr| attribute_has_kind(attr, a.kind))
            .unwrap_or(false)
    })
}

/// Sizes of each slot group, from a segment-size attribute when present, else by giving
/// the remaining values to the single non-`Single` slot (at most one exists then).
fn group_sizes<'c, 'a>(
    op: &OperationRef<'c, 'a>,
    slots: &[SlotSpec],
    total: usize,
    segment_attribute: &str,
) -> Vec<usize> {
    if let Ok(attr) = op.attribute(segment_attribute)
        && let Ok(segments) = DenseI32ArrayAttribute::try_from(attr)
        && segments.len() == slots.len()
    {
        return (0..segments.len())
            .map(|i| segments.element(i).unwrap_or(0).max(0) as usize)
            .collect();
    }
    let fixed = slots.iter().filter(|s| s.arity == Arity::Single).count();
    let rest = total.saturating_sub(fixed);
    slots
        .iter()
        .map(|s| if s.arity == Arity::Single { 1 } else { rest })
        .collect()
}

fn group_range(sizes: &[usize], index: usize) -> std::ops::Range<usize> {
    let start: usize = sizes[..index].iter().sum();
    start..start + sizes[index]
}

/// The operands of slot `index` of `spec`.
pub fn operand_group<'c, 'a>(op: &OperationRef<'c, 'a>, spec: &OpSpec, index: usize) -> Vec<Value<'c, 'a>> {
    let sizes = group_sizes(op, spec.operands, op.operand_count(), "operandSegmentSizes");
    group_range(&sizes, index).filter_map(|i| op.operand(i).ok()).collect()
}

/// The results of slot `index` of `spec`.
pub fn result_group<'c, 'a>(op: &OperationRef<'c, 'a>, spec: &OpSpec, index: usize) -> Vec<Value<'c, 'a>> {
    let sizes = group_sizes(op, spec.results, op.result_count(), "resultSegmentSizes");
    group_range(&sizes, index)
        .filter_map(|i| op.result(i).ok().map(Into::into))
        .collect()
}

/// An `array<i64>` attribute; empty if absent (the typed wrappers check presence first).
pub fn i64_array<'c, 'a>(op: &OperationRef<'c, 'a>, name: &str) -> Vec<i64> {
    op.attribute(name)
        .ok()
        .and_then(|a| DenseI64ArrayAttribute::try_from(a).ok())
        .map(|a| (0..a.len()).filter_map(|i| a.element(i).ok()).collect())
        .unwrap_or_default()
}

/// An integer attribute; 0 if absent.
pub fn integer<'c, 'a>(op: &OperationRef<'c, 'a>, name: &str) -> i64 {
    op.attribute(name)
        .ok()
        .and_then(|a| IntegerAttribute::try_from(a).ok())
        .map(|a| a.value())
        .unwrap_or_default()
}

/// A float attribute; 0.0 if absent.
pub fn float<'c, 'a>(op: &OperationRef<'c, 'a>, name: &str) -> f64 {
    op.attribute(name)
        .ok()
        .and_then(|a| FloatAttribute::try_from(a).ok())
        .map(|a| a.value())
        .unwrap_or_default()
}

/// A string attribute; empty if absent.
pub fn string<'c, 'a>(op: &OperationRef<'c, 'a>, name: &str) -> String {
    op.attribute(name)
        .ok()
        .and_then(|a| StringAttribute::try_from(a).ok())
        .map(crate::ffi::string_value)
        .unwrap_or_default()
}

/// Any attribute; the typed wrappers check presence first.
pub fn attribute<'c, 'a>(op: &OperationRef<'c, 'a>, name: &str) -> Attribute<'c> {
    op.attribute(name).expect("checked by the typed wrapper's cast")
}

/// Builds an op of `spec` from grouped operands, result types and attribute values.
pub fn build_op<'c>(
    location: Location<'c>,
    spec: &OpSpec,
    operand_groups: Vec<Vec<Value<'c, '_>>>,
    result_groups: Vec<Vec<Type<'c>>>,
    attributes: Vec<(&str, AttrValue<'c>)>,
) -> Result<Operation<'c>, melior::Error> {
    let context = location.context();
    let mut named: Vec<(Identifier<'c>, Attribute<'c>)> = attributes
        .into_iter()
        .map(|(name, value)| {
            let attribute: Attribute<'c> = match value {
                AttrValue::I64Array(v) => make::i64_array(context, &v),
                AttrValue::Integer(v) => make::i64(context, v),
                AttrValue::Float(v) => make::f32(context, v),
                AttrValue::String(v) => make::string(context, &v),
                AttrValue::Attribute(a) => a,
            };
            (make::identifier(context, name), attribute)
        })
        .collect();
    if spec.needs_operand_segments() {
        let sizes: Vec<i32> = operand_groups.iter().map(|g| g.len() as i32).collect();
        named.push((
            make::identifier(context, "operandSegmentSizes"),
            make::i32_array(context, &sizes),
        ));
    }
    if spec.needs_result_segments() {
        let sizes: Vec<i32> = result_groups.iter().map(|g| g.len() as i32).collect();
        named.push((
            make::identifier(context, "resultSegmentSizes"),
            make::i32_array(context, &sizes),
        ));
    }
    let operands: Vec<Value> = operand_groups.into_iter().flatten().collect();
    let results: Vec<Type> = result_groups.into_iter().flatten().collect();
    OperationBuilder::new(&spec.full_name(), location)
        .add_operands(&operands)
        .add_results(&results)
        .add_attributes(&named)
        .build()
}

/// Why a typed builder could not build an op.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("'{op}' takes 1 to {max} values for '{family}', got {got}; nest the op for more")]
    FamilyLength {
        op: &'static str,
        family: &'static str,
        got: usize,
        max: usize,
    },
    #[error(transparent)]
    Mlir(#[from] melior::Error),
}

/// Checks the length of a slot family (`inputs_0` .. `inputs_15`) given to a builder.
pub fn check_family_len(op: &'static str, family: &'static str, got: usize, max: usize) -> Result<(), BuildError> {
    if got == 0 || got > max {
        return Err(BuildError::FamilyLength { op, family, got, max });
    }
    Ok(())
}

/// Whether `op` is a model entry: a `func.func` that is neither an outlined kernel nor
/// private.
pub fn is_entry_function<'c, 'a>(op: &OperationRef<'c, 'a>) -> bool {
    op_name(op) == "func.func"
        && !op.has_attribute(crate::KERNEL_ATTRIBUTE)
        && op
            .attribute("sym_visibility")
            .map_or(true, |v| v.to_string() != "\"private\"")
}

/// The symbol name of `op` (`sym_name`), if it has one.
pub fn symbol_name<'c, 'a>(op: &OperationRef<'c, 'a>) -> Option<String> {
    op.attribute("sym_name")
        .ok()
        .and_then(|a| StringAttribute::try_from(a).ok())
        .map(crate::ffi::string_value)
}

/// The model name (`graph.name`) of argument or result `index` in the dictionaries
/// `attrs` (a function's `arg_attrs` or `res_attrs`), else `<fallback><index>`.
pub fn graph_name(attrs: Option<Attribute>, index: usize, fallback: &str) -> String {
    use melior::ir::attribute::{ArrayAttribute, DictionaryAttribute};
    attrs
        .and_then(|a| ArrayAttribute::try_from(a).ok())
        .and_then(|a| a.element(index).ok())
        .and_then(|d| DictionaryAttribute::try_from(d).ok())
        .and_then(|d| d.element_by_name("graph.name"))
        .and_then(|n| StringAttribute::try_from(n).ok())
        .map_or_else(|| format!("{fallback}{index}"), crate::ffi::string_value)
}
