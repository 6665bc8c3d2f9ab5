//! Element-type rules (IRDL cannot constrain the element type inside a tensor type).

use super::OpView;
use crate::ffi::TensorInfo;
use melior::ir::{ValueLike, attribute::AttributeLike, operation::OperationLike};

const FLOAT: &[&str] = &["f32", "f64", "f16", "bf16"];
const NUMERIC: &[&str] = &["f32", "f64", "f16", "bf16", "i8", "ui8", "i32", "i64"];
const ANY: &[&str] = &["f32", "f64", "f16", "bf16", "i8", "ui8", "i32", "i64", "i1"];
const INDEX: &[&str] = &["i32", "i64"];
const I64: &[&str] = &["i64"];
const BOOL: &[&str] = &["i1"];
const QUANTIZED: &[&str] = &["i8", "ui8", "i32"];

/// ONNX TensorProto data type codes for the element types fuser supports.
pub fn onnx_type_code(element: &str) -> Option<i64> {
    Some(match element {
        "f32" => 1,
        "ui8" => 2,
        "i8" => 3,
        "i32" => 6,
        "i64" => 7,
        "i1" => 9,
        "f16" => 10,
        "f64" => 11,
        "bf16" => 16,
        _ => return None,
    })
}

fn allowed(what: &str, info: &TensorInfo, set: &[&str]) -> Result<(), String> {
    if set.contains(&info.element.as_str()) {
        Ok(())
    } else {
        Err(format!(
            "{what} has element type {}, expected one of {}",
            info.element,
            set.join(", ")
        ))
    }
}

struct Types {
    operands: Vec<Option<TensorInfo>>,
    results: Vec<Option<TensorInfo>>,
}

impl Types {
    fn operand(&self, i: usize) -> Option<&TensorInfo> {
        self.operands.get(i).and_then(Option::as_ref)
    }
    fn result(&self, i: usize) -> Option<&TensorInfo> {
        self.results.get(i).and_then(Option::as_ref)
    }
    /// Every operand and result in the given set, and all sharing one element type.
    fn uniform(&self, set: &[&str]) -> Result<(), String> {
        self.uniform_operands(set)?;
        let first = self.operand(0).map(|t| t.element.clone());
        for (i, r) in self.results.iter().enumerate() {
            if let Some(r) = r {
                allowed(&format!("result #{i}"), r, set)?;
                if let Some(f) = &first
                    && &r.element != f
                {
                    return Err(format!(
                        "result #{i} has element type {}, but the operands have {f}",
                        r.element
                    ));
                }
            }
        }
        Ok(())
    }
    fn uniform_operands(&self, set: &[&str]) -> Result<(), String> {
        let mut first: Option<&TensorInfo> = None;
        for (i, o) in self.operands.iter().enumerate() {
            let Some(o) = o else { continue };
            allowed(&format!("operand #{i}"), o, set)?;
            if let Some(f) = first
                && f.element != o.element
            {
                return Err(format!(
                    "operand #{i} has element type {}, but operand #0 has {}",
                    o.element, f.element
                ));
            }
            first.get_or_insert(o);
        }
        Ok(())
    }
    /// Operand 0 in `set` and result 0 of the same element type; other operands unchecked.
    fn first_same(&self, set: &[&str]) -> Result<(), String> {
        if let Some(x) = self.operand(0) {
            allowed("operand #0", x, set)?;
            if let Some(y) = self.result(0)
                && y.element != x.element
            {
                return Err(format!(
                    "result #0 has element type {}, but operand #0 has {}",
                    y.element, x.element
                ));
            }
        }
        Ok(())
    }
    fn operand_in(&self, i: usize, set: &[&str]) -> Result<(), String> {
        self.operand(i)
            .map_or(Ok(()), |t| allowed(&format!("operand #{i}"), t, set))
    }
    fn result_in(&self, i: usize, set: &[&str]) -> Result<(), String> {
        self.result(i)
            .map_or(Ok(()), |t| allowed(&format!("result #{i}"), t, set))
    }
}

pub(super) fn check(view: &OpView) -> Result<(), String> {
    let types = Types {
        operands: view.operand_infos(),
        results: (0..view.op.result_count()).map(|i| view.result_info(i)).collect(),
    };
    // Optional operands shift positions; look up index-like operands by slot instead.
    let slot_in = |slot: usize, set: &[&str]| -> Result<(), String> {
        match view.slot_operand(slot) {
            Some(t) => allowed(&format!("operand '{}'", view.spec.operands[slot].name), &t, set),
            None => Ok(()),
        }
    };
    let op = view.name.strip_prefix("graph.").unwrap_or(&view.name);
    match op {
        "cos"
        | "erf"
        | "exp"
        | "log"
        | "sin"
        | "sqrt"
        | "tanh"
        | "sigmoid"
        | "softplus"
        | "softsign"
        | "reciprocal"
        | "ceil"
        | "floor"
        | "elu"
        | "selu"
        | "gelu"
        | "hard_sigmoid"
        | "hard_swish"
        | "leaky_relu"
        | "softmax"
        | "log_softmax"
        | "lrn"
        | "global_average_pool"
        | "global_max_pool"
        | "average_pool" => types.uniform(FLOAT),
        "abs" | "neg" | "sign" | "relu" | "add" | "sub" | "mul" | "div" | "mat_mul" | "max" | "min" | "mean"
        | "sum" | "p_relu" | "range" | "clip" | "gemm" | "mod" | "einsum" => types.uniform(NUMERIC),
        "rms_normalization" => types.uniform(FLOAT),
        "cum_sum" => {
            types.first_same(NUMERIC)?;
            types.operand_in(1, INDEX)
        }
        "trilu" => {
            types.first_same(ANY)?;
            slot_in(1, I64)
        }
        "gather_elements" => {
            types.first_same(ANY)?;
            types.operand_in(1, INDEX)
        }
        "scatter_nd" => {
            types.first_same(ANY)?;
            types.operand_in(1, I64)?;
            same_element(&types, 2, usize::MAX, "updates", "operand #0")
        }
        "pow" => {
            types.first_same(NUMERIC)?;
            types.operand_in(1, NUMERIC)
        }
        "and" | "or" | "not" => types.uniform(BOOL),
        "equal" | "greater" | "less" => {
            types.uniform_operands(ANY)?;
            types.result_in(0, BOOL)
        }
        "where" => {
            types.operand_in(0, BOOL)?;
            let rest = Types {
                operands: types.operands[1..].to_vec(),
                results: types.results.clone(),
            };
            rest.uniform(ANY)
        }
        "identity" | "flatten" | "transpose" | "depth_to_space" | "space_to_depth" | "concat" => types.uniform(ANY),
        "split" => {
            let data = Types {
                operands: types.operands[..1].to_vec(),
                results: types.results.clone(),
            };
            data.uniform(ANY)?;
            slot_in(1, I64)
        }
        "reshape" | "expand" | "tile" | "unsqueeze" => {
            types.first_same(ANY)?;
            slot_in(1, I64)
        }
        "squeeze" => {
            types.first_same(ANY)?;
            slot_in(1, I64)
        }
        "slice" => {
            types.first_same(ANY)?;
            (1..5).try_for_each(|s| slot_in(s, INDEX))
        }
        "pad" => {
            types.first_same(NUMERIC)?;
            slot_in(1, I64)?;
            slot_in(3, INDEX)
        }
        "gather" => {
            types.first_same(ANY)?;
            slot_in(1, INDEX)
        }
        "dropout" => types.first_same(FLOAT),
        "reduce_max" | "reduce_min" => {
            types.first_same(ANY)?;
            slot_in(1, I64)
        }
        "reduce_l2" | "reduce_mean" | "reduce_prod" | "reduce_sum" => {
            types.first_same(NUMERIC)?;
            slot_in(1, I64)
        }
        "arg_max" => {
            types.operand_in(0, NUMERIC)?;
            types.result_in(0, I64)
        }
        "top_k" => {
            types.first_same(NUMERIC)?;
            types.operand_in(1, I64)?;
            types.result_in(1, I64)
        }
        "max_pool" => {
            types.first_same(NUMERIC)?;
            types.result_in(1, I64)
        }
        "conv" | "conv_transpose" | "batch_normalization" | "instance_normalization" | "layer_normalization" => {
            types.first_same(FLOAT)?;
            (1..types.operands.len()).try_for_each(|i| types.operand_in(i, FLOAT))
        }
        "resize" => {
            types.first_same(NUMERIC)?;
            slot_in(1, FLOAT)?;
            slot_in(2, &["f32"])?;
            slot_in(3, I64)
        }
        "shape" => types.result_in(0, I64),
        "cast" => {
            types.operand_in(0, ANY)?;
            let to = view.int("to");
            if let Some(y) = types.result(0) {
                allowed("result #0", y, ANY)?;
                if onnx_type_code(&y.element) != Some(to) {
                    return Err(format!(
                        "result element type {} does not match 'to' = {to} (ONNX data type code)",
                        y.element
                    ));
                }
            }
            Ok(())
        }
        "constant" => check_value_type(view, "value", true),
        "constant_of_shape" => {
            types.operand_in(0, I64)?;
            check_value_type(view, "value", false)
        }
        "weight" => types.result_in(0, ANY),
        "ftensor.quantize" => {
            types.operand_in(0, FLOAT)?;
            types.operand_in(1, FLOAT)?;
            types.result_in(0, QUANTIZED)?;
            same_element(&types, 2, 0, "zero_point", "the result")
        }
        "ftensor.dequantize" => {
            types.operand_in(0, QUANTIZED)?;
            types.operand_in(1, FLOAT)?;
            types.result_in(0, FLOAT)?;
            same_element(&types, 2, usize::MAX, "zero_point", "operand #0")
        }
        "ftensor.relayout" => types.uniform(ANY),
        "hw.launch" => view
            .op
            .operands()
            .enumerate()
            .find(|(_, v)| v.r#type().to_string() != "memref<?xi8>")
            .map_or(Ok(()), |(i, v)| {
                Err(format!(
                    "argument #{i} has type {}, expected a byte buffer memref<?xi8>",
                    v.r#type()
                ))
            }),
        "cann.convolution" | "cann.matmul" | "cann.softmax" | "cann.max_pool" | "cann.avg_pool2d" => {
            types.uniform(FLOAT)
        }
        "cann.add" | "cann.mul" | "cann.relu" => types.uniform(NUMERIC),
        _ => Ok(()),
    }
}

/// zero_point (operand `zp`) has the element type of result `result` (or of operand #0
/// when `result` is `usize::MAX`).
fn same_element(types: &Types, zp: usize, result: usize, what: &str, against: &str) -> Result<(), String> {
    let reference = if result == usize::MAX {
        types.operand(0)
    } else {
        types.result(result)
    };
    if let (Some(z), Some(r)) = (types.operand(zp), reference)
        && z.element != r.element
    {
        return Err(format!(
            "{what} has element type {}, but {against} has {}",
            z.element, r.element
        ));
    }
    Ok(())
}

/// The `value` attribute's element type matches the result's; for `graph.constant` the
/// whole type must match, for `graph.constant_of_shape` the value is one element.
fn check_value_type(view: &OpView, name: &str, whole: bool) -> Result<(), String> {
    let Ok(attribute) = view.op.attribute(name) else {
        return Ok(());
    };
    let Some(value) = crate::ffi::tensor_info(attribute.r#type()) else {
        return Err(format!("attribute '{name}' must have a ranked tensor type"));
    };
    let Some(result) = view.op.result(0).ok().and_then(|r| crate::ffi::tensor_info(r.r#type())) else {
        return Ok(());
    };
    allowed("result #0", &result, ANY)?;
    if value.element != result.element {
        return Err(format!(
            "attribute '{name}' has element type {}, but the result has {}",
            value.element, result.element
        ));
    }
    if whole && value.shape != result.shape {
        return Err(format!(
            "attribute '{name}' has type {}, but the result has {}",
            attribute.r#type(),
            view.op.result(0).map(|r| r.r#type().to_string()).unwrap_or_default()
        ));
    }
    if !whole && value.element_count() != Some(1) {
        return Err(format!("attribute '{name}' must hold exactly one element"));
    }
    Ok(())
}
