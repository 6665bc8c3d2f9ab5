//! The exact attribute set of each op, and attribute kinds and values.

use super::OpView;
use crate::accessors::attribute_has_kind;
use melior::ir::{OperationRef, attribute::AttributeLike, operation::OperationLike};

/// Segment-size attributes MLIR itself requires for ops with several optional or
/// variadic groups; they are structural, not ONNX attributes.
const STRUCTURAL: [&str; 2] = ["operandSegmentSizes", "resultSegmentSizes"];

pub(super) fn check(view: &OpView) -> Result<(), String> {
    let spec = view.spec;
    for (name, attribute) in view.op.attributes() {
        let name = name.as_string_ref().as_str().unwrap_or_default();
        if STRUCTURAL.contains(&name) {
            continue;
        }
        let Some(declared) = spec.attribute(name) else {
            let known: Vec<&str> = spec.attributes.iter().map(|a| a.name).collect();
            return Err(if known.is_empty() {
                format!("has unknown attribute '{name}'; it takes no attributes")
            } else {
                format!("has unknown attribute '{name}'; expected only: {}", known.join(", "))
            });
        };
        if !attribute_has_kind(attribute, declared.kind) {
            return Err(format!("attribute '{name}' must be {}", declared.kind.describe()));
        }
        check_width(spec.dialect, name, attribute)?;
    }
    for declared in spec.attributes {
        if !view.op.has_attribute(declared.name) {
            return Err(format!("requires attribute '{}'", declared.name));
        }
    }
    if spec.needs_operand_segments() && !view.op.has_attribute("operandSegmentSizes") {
        // MLIR's verifier reports this too; keep ours consistent if it is ever reached.
        return Err("requires 'operandSegmentSizes'".into());
    }
    check_values(view)
}

/// graph ops use i64 integers and f32 floats (DESIGN.md's encodings).
fn check_width(dialect: &str, name: &str, attribute: melior::ir::Attribute) -> Result<(), String> {
    if dialect != "graph" {
        return Ok(());
    }
    let ty = attribute.r#type().to_string();
    if attribute.is_integer() && ty != "i64" {
        return Err(format!("attribute '{name}' must be an i64 integer, got {ty}"));
    }
    if attribute.is_float() && ty != "f32" {
        return Err(format!("attribute '{name}' must be an f32 float, got {ty}"));
    }
    Ok(())
}

/// Value constraints that hold whatever the shapes are.
fn check_values(view: &OpView) -> Result<(), String> {
    match view.name.as_str() {
        "hw.target" => {
            let kind = view.string("kind");
            if !["cpu", "cuda", "rocm", "ascend"].contains(&kind.as_str()) {
                return Err(format!(
                    "attribute 'kind' must be one of cpu|cuda|rocm|ascend, got '{kind}'"
                ));
            }
        }
        "hw.alloc" if view.int("offset") < 0 || view.int("size") < 0 => {
            return Err("attributes 'offset' and 'size' must be non-negative".into());
        }
        "hw.launch" => {
            crate::hw_launch::launch_args(view.op)?;
        }
        "graph.conv" | "graph.conv_transpose" | "graph.max_pool" | "graph.average_pool" => {
            let kernel = view.ints("kernel_shape");
            let n = kernel.len();
            for attr in ["strides", "dilations"] {
                let values = view.ints(attr);
                if values.len() != n {
                    return Err(format!(
                        "attribute '{attr}' has {} values, expected {n} (one per spatial dim)",
                        values.len()
                    ));
                }
                if values.iter().any(|&v| v < 1) {
                    return Err(format!("attribute '{attr}' must be positive"));
                }
            }
            let pads = view.ints("pads");
            if pads.len() != 2 * n {
                return Err(format!(
                    "attribute 'pads' has {} values, expected {} (begin and end per spatial dim)",
                    pads.len(),
                    2 * n
                ));
            }
            if pads.iter().any(|&p| p < 0) {
                return Err("attribute 'pads' must be non-negative".into());
            }
            if view.op.has_attribute("group") && view.int("group") < 1 {
                return Err("attribute 'group' must be positive".into());
            }
        }
        _ => {}
    }
    Ok(())
}

/// `ftensor.kernel` on a `func.func` is a unit attribute.
pub(super) fn check_kernel_marker(op: &OperationRef) -> Result<(), String> {
    match op.attribute("ftensor.kernel") {
        Ok(attribute) if !attribute.is_unit() => {
            Err("'func.func' op attribute 'ftensor.kernel' must be a unit attribute".into())
        }
        _ => Ok(()),
    }
}
