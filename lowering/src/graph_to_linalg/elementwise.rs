//! Elementwise graph ops as one broadcasting `linalg.generic` each: unary math and
//! activations, binaries, comparisons and logic, the variadic Max/Min/Mean/Sum, Where,
//! Clip and Cast. The scalar bodies follow the reference evaluator's definitions
//! (`fuser_dialects::semantics::elementwise`) op by op.

use super::{
    OpView, Operand,
    text::{
        Body, FuncText, GenericInput, Lowered, broadcast_map, element, generic, identity_map, is_float, refuse,
        static_shape, tensor_type,
    },
};
use fuser_dialects::semantics::{Attrs, DType, TypeInfo};

/// Whether `op` is lowered here.
pub fn handles(op: &str) -> bool {
    UNARY.contains(&op) || BINARY.contains(&op) || VARIADIC.contains(&op) || matches!(op, "where" | "clip" | "cast")
}

const UNARY: &[&str] = &[
    "abs",
    "ceil",
    "cos",
    "elu",
    "erf",
    "exp",
    "floor",
    "gelu",
    "hard_sigmoid",
    "hard_swish",
    "leaky_relu",
    "log",
    "neg",
    "not",
    "reciprocal",
    "relu",
    "selu",
    "sigmoid",
    "sign",
    "sin",
    "softplus",
    "softsign",
    "sqrt",
    "tanh",
];
const BINARY: &[&str] = &[
    "add", "sub", "mul", "div", "pow", "mod", "p_relu", "equal", "greater", "less", "and", "or",
];
const VARIADIC: &[&str] = &["max", "min", "mean", "sum"];

/// Lowers an elementwise op: one generic over the broadcast output shape.
pub fn lower(f: &mut FuncText, view: &OpView) -> Lowered<Vec<String>> {
    let out = view.result(0)?;
    let operands: Vec<&Operand> = view.inputs.iter().flatten().collect();
    let attrs = &view.attrs;
    let op = view.op.as_str();
    let dtypes: Vec<DType> = operands.iter().map(|o| o.info.dtype).collect();
    let out_dtype = out.dtype;
    let result = map_elementwise(f, &operands, out, |b, args| match op {
        _ if UNARY.contains(&op) => unary(b, op, attrs, &args[0], dtypes[0]),
        _ if BINARY.contains(&op) => binary(b, op, attrs, &args[0], &args[1], dtypes[0], dtypes[1]),
        _ if VARIADIC.contains(&op) => {
            let mut acc = args[0].clone();
            for next in &args[1..operands.len()] {
                let combine = if op == "mean" || op == "sum" { "add" } else { op };
                acc = binary(b, combine, attrs, &acc, next, dtypes[0], dtypes[0])?;
            }
            if op == "mean" {
                if !is_float(out_dtype) {
                    return refuse("graph.mean on integers");
                }
                let n = b.constant(operands.len() as f64, out_dtype)?;
                acc = b.assign(format!("arith.divf {acc}, {n} : {}", element(out_dtype)?));
            }
            Ok(acc)
        }
        "where" => Ok(b.assign(format!(
            "arith.select {}, {}, {} : {}",
            args[0],
            args[1],
            args[2],
            element(out_dtype)?
        ))),
        "clip" => clip(b, view, args, out_dtype),
        "cast" => convert(b, &args[0], dtypes[0], out_dtype),
        _ => refuse(format!("graph.{op} is not elementwise")),
    })?;
    Ok(vec![result])
}

/// One `linalg.generic` reading `operands` broadcast to `out` and writing a new tensor.
pub fn map_elementwise(
    f: &mut FuncText,
    operands: &[&Operand],
    out: &TypeInfo,
    body: impl FnOnce(&mut Body, &[String]) -> Lowered<String>,
) -> Lowered<String> {
    let out_shape = static_shape(out)?;
    let out_ty = tensor_type(&out_shape, out.dtype)?;
    let mut inputs = Vec::new();
    for operand in operands {
        let shape = static_shape(&operand.info)?;
        inputs.push(GenericInput {
            name: operand.name.clone(),
            ty: tensor_type(&shape, operand.info.dtype)?,
            map: broadcast_map(&shape, &out_shape),
            element: element(operand.info.dtype)?.to_string(),
        });
    }
    let init = f.empty(&out_ty);
    generic(
        f,
        &inputs,
        (&init, &out_ty, &identity_map(out_shape.len()), element(out.dtype)?),
        &vec![false; out_shape.len()],
        body,
    )
}

/// `x op y` for two scalars of `ty`, choosing the float or integer form of `op`.
/// The unsigned form of a signed integer op or predicate name (`divsi` → `divui`, `sgt`
/// → `ugt`) for uint8, which is signless `i8` in lowered IR; other names as they are.
fn signed_for(name: &str, dtype: DType) -> String {
    if dtype != DType::U8 {
        return name.to_string();
    }
    match name {
        "maxsi" | "minsi" | "divsi" | "remsi" => name.replace("si", "ui"),
        "sgt" | "slt" | "sge" | "sle" => name.replacen('s', "u", 1),
        _ => name.to_string(),
    }
}

fn arith(b: &mut Body, float_op: &str, int_op: &str, x: &str, y: &str, dtype: DType) -> Lowered<String> {
    let ty = element(dtype)?;
    let name = if is_float(dtype) {
        float_op.to_string()
    } else {
        signed_for(int_op, dtype)
    };
    Ok(b.assign(format!("arith.{name} {x}, {y} : {ty}")))
}

fn cmp(b: &mut Body, float_pred: &str, int_pred: &str, x: &str, y: &str, dtype: DType) -> Lowered<String> {
    let ty = element(dtype)?;
    Ok(if is_float(dtype) {
        b.assign(format!("arith.cmpf {float_pred}, {x}, {y} : {ty}"))
    } else {
        b.assign(format!("arith.cmpi {}, {x}, {y} : {ty}", signed_for(int_pred, dtype)))
    })
}

fn select(b: &mut Body, c: &str, x: &str, y: &str, dtype: DType) -> Lowered<String> {
    Ok(b.assign(format!("arith.select {c}, {x}, {y} : {}", element(dtype)?)))
}

fn math(b: &mut Body, name: &str, x: &str, dtype: DType) -> Lowered<String> {
    if !is_float(dtype) {
        return refuse(format!("math.{name} on {dtype}"));
    }
    Ok(b.assign(format!("math.{name} {x} : {}", element(dtype)?)))
}

fn unary(b: &mut Body, op: &str, attrs: &Attrs, x: &str, dtype: DType) -> Lowered<String> {
    let ty = element(dtype)?;
    let float = is_float(dtype);
    let attr = |name: &str| attrs.float(name).map_err(|e| super::text::Refusal(e.to_string()));
    Ok(match op {
        "abs" if float => b.assign(format!("math.absf {x} : {ty}")),
        "abs" => b.assign(format!("math.absi {x} : {ty}")),
        "neg" if float => b.assign(format!("arith.negf {x} : {ty}")),
        "neg" => {
            let zero = b.constant(0.0, dtype)?;
            b.assign(format!("arith.subi {zero}, {x} : {ty}"))
        }
        "relu" => {
            let zero = b.constant(0.0, dtype)?;
            arith(b, "maximumf", "maxsi", x, &zero, dtype)?
        }
        "sign" => {
            let zero = b.constant(0.0, dtype)?;
            let one = b.constant(1.0, dtype)?;
            let minus = b.constant(-1.0, dtype)?;
            let pos = cmp(b, "ogt", "sgt", x, &zero, dtype)?;
            let neg = cmp(b, "olt", "slt", x, &zero, dtype)?;
            let low = select(b, &neg, &minus, x, dtype)?;
            select(b, &pos, &one, &low, dtype)?
        }
        "not" => {
            let yes = b.assign("arith.constant true");
            b.assign(format!("arith.xori {x}, {yes} : i1"))
        }
        "ceil" | "cos" | "erf" | "exp" | "floor" | "log" | "sin" | "sqrt" | "tanh" => math(b, op, x, dtype)?,
        _ if !float => return refuse(format!("graph.{op} on {dtype}")),
        "reciprocal" => {
            let one = b.constant(1.0, dtype)?;
            b.assign(format!("arith.divf {one}, {x} : {ty}"))
        }
        "sigmoid" => {
            let one = b.constant(1.0, dtype)?;
            let negated = b.assign(format!("arith.negf {x} : {ty}"));
            let e = b.assign(format!("math.exp {negated} : {ty}"));
            let d = b.assign(format!("arith.addf {one}, {e} : {ty}"));
            b.assign(format!("arith.divf {one}, {d} : {ty}"))
        }
        "softplus" => {
            let e = b.assign(format!("math.exp {x} : {ty}"));
            b.assign(format!("math.log1p {e} : {ty}"))
        }
        "softsign" => {
            let one = b.constant(1.0, dtype)?;
            let a = b.assign(format!("math.absf {x} : {ty}"));
            let d = b.assign(format!("arith.addf {one}, {a} : {ty}"));
            b.assign(format!("arith.divf {x}, {d} : {ty}"))
        }
        "leaky_relu" => {
            let alpha = b.constant(attr("alpha")?, dtype)?;
            let zero = b.constant(0.0, dtype)?;
            let scaled = b.assign(format!("arith.mulf {alpha}, {x} : {ty}"));
            let non_negative = b.assign(format!("arith.cmpf oge, {x}, {zero} : {ty}"));
            select(b, &non_negative, x, &scaled, dtype)?
        }
        "elu" | "selu" => {
            let alpha = b.constant(attr("alpha")?, dtype)?;
            let zero = b.constant(0.0, dtype)?;
            let em1 = b.assign(format!("math.expm1 {x} : {ty}"));
            let negative_branch = b.assign(format!("arith.mulf {alpha}, {em1} : {ty}"));
            if op == "elu" {
                let non_negative = b.assign(format!("arith.cmpf oge, {x}, {zero} : {ty}"));
                select(b, &non_negative, x, &negative_branch, dtype)?
            } else {
                let gamma = b.constant(attr("gamma")?, dtype)?;
                let positive = b.assign(format!("arith.cmpf ogt, {x}, {zero} : {ty}"));
                let picked = select(b, &positive, x, &negative_branch, dtype)?;
                b.assign(format!("arith.mulf {gamma}, {picked} : {ty}"))
            }
        }
        "hard_sigmoid" | "hard_swish" => {
            let (alpha, beta) = if op == "hard_sigmoid" {
                (attr("alpha")?, attr("beta")?)
            } else {
                (1.0 / 6.0, 0.5)
            };
            let a = b.constant(alpha, dtype)?;
            let c = b.constant(beta, dtype)?;
            let zero = b.constant(0.0, dtype)?;
            let one = b.constant(1.0, dtype)?;
            let ax = b.assign(format!("arith.mulf {a}, {x} : {ty}"));
            let lin = b.assign(format!("arith.addf {ax}, {c} : {ty}"));
            let low = b.assign(format!("arith.maximumf {lin}, {zero} : {ty}"));
            let clamped = b.assign(format!("arith.minimumf {low}, {one} : {ty}"));
            if op == "hard_sigmoid" {
                clamped
            } else {
                b.assign(format!("arith.mulf {x}, {clamped} : {ty}"))
            }
        }
        "gelu" => {
            let approximate = attrs
                .string("approximate")
                .map_err(|e| super::text::Refusal(e.to_string()))?;
            let half = b.constant(0.5, dtype)?;
            let one = b.constant(1.0, dtype)?;
            let inner = if approximate == "tanh" {
                let k = b.constant((2.0 / std::f64::consts::PI).sqrt(), dtype)?;
                let c = b.constant(0.044715, dtype)?;
                let x2 = b.assign(format!("arith.mulf {x}, {x} : {ty}"));
                let x3 = b.assign(format!("arith.mulf {x2}, {x} : {ty}"));
                let cx3 = b.assign(format!("arith.mulf {c}, {x3} : {ty}"));
                let sum = b.assign(format!("arith.addf {x}, {cx3} : {ty}"));
                let scaled = b.assign(format!("arith.mulf {k}, {sum} : {ty}"));
                b.assign(format!("math.tanh {scaled} : {ty}"))
            } else {
                let r = b.constant(std::f64::consts::FRAC_1_SQRT_2, dtype)?;
                let scaled = b.assign(format!("arith.mulf {x}, {r} : {ty}"));
                b.assign(format!("math.erf {scaled} : {ty}"))
            };
            let one_plus = b.assign(format!("arith.addf {one}, {inner} : {ty}"));
            let hx = b.assign(format!("arith.mulf {half}, {x} : {ty}"));
            b.assign(format!("arith.mulf {hx}, {one_plus} : {ty}"))
        }
        _ => return refuse(format!("graph.{op} has no CPU lowering")),
    })
}

fn binary(b: &mut Body, op: &str, attrs: &Attrs, x: &str, y: &str, dx: DType, dy: DType) -> Lowered<String> {
    let ty = element(dx)?;
    let float = is_float(dx);
    Ok(match op {
        "add" => arith(b, "addf", "addi", x, y, dx)?,
        "sub" => arith(b, "subf", "subi", x, y, dx)?,
        "mul" => arith(b, "mulf", "muli", x, y, dx)?,
        "div" if float => b.assign(format!("arith.divf {x}, {y} : {ty}")),
        "div" => safe_int_division(b, "divsi", x, y, dx)?,
        "max" => arith(b, "maximumf", "maxsi", x, y, dx)?,
        "min" => arith(b, "minimumf", "minsi", x, y, dx)?,
        "equal" if dx == DType::Bool => b.assign(format!("arith.cmpi eq, {x}, {y} : i1")),
        "equal" => cmp(b, "oeq", "eq", x, y, dx)?,
        "greater" => cmp(b, "ogt", "sgt", x, y, dx)?,
        "less" => cmp(b, "olt", "slt", x, y, dx)?,
        "and" => b.assign(format!("arith.andi {x}, {y} : i1")),
        "or" => b.assign(format!("arith.ori {x}, {y} : i1")),
        "p_relu" => {
            let zero = b.constant(0.0, dx)?;
            let scaled = arith(b, "mulf", "muli", x, y, dx)?;
            let non_negative = cmp(b, "oge", "sge", x, &zero, dx)?;
            select(b, &non_negative, x, &scaled, dx)?
        }
        "pow" if float => {
            let exponent = if dy == dx {
                y.to_string()
            } else {
                convert(b, y, dy, dx)?
            };
            b.assign(format!("math.powf {x}, {exponent} : {ty}"))
        }
        "pow" if is_float(dy) => {
            // Integer base, float exponent: in the exponent's type, truncated back.
            let base = convert(b, x, dx, dy)?;
            let power = b.assign(format!("math.powf {base}, {y} : {}", element(dy)?));
            convert(b, &power, dy, dx)?
        }
        "pow" if dy == dx => {
            // Integer base and exponent: exact repeated multiplication; a negative
            // exponent truncates like the evaluator (1/x^n toward zero).
            b.assign(format!("math.ipowi {x}, {y} : {ty}"))
        }
        "mod" => {
            let fmod = attrs.int("fmod").map_err(|e| super::text::Refusal(e.to_string()))?;
            if float {
                let r = b.assign(format!("arith.remf {x}, {y} : {ty}"));
                if fmod == 1 { r } else { floor_adjust(b, &r, y, dx)? }
            } else {
                let r = safe_int_division(b, "remsi", x, y, dx)?;
                if fmod == 1 { r } else { floor_adjust(b, &r, y, dx)? }
            }
        }
        _ => return refuse(format!("graph.{op} on {dx} and {dy}")),
    })
}

/// Integer division or remainder that never traps: a zero divisor gives 0 (as the
/// evaluator), and MIN / -1 wraps instead of faulting.
fn safe_int_division(b: &mut Body, op: &str, x: &str, y: &str, dtype: DType) -> Lowered<String> {
    let ty = element(dtype)?;
    let op = signed_for(op, dtype);
    let zero = b.constant(0.0, dtype)?;
    if dtype == DType::U8 {
        // Unsigned: only a zero divisor is special (255 is a divisor like any other).
        let one = b.constant(1.0, dtype)?;
        let is_zero = b.assign(format!("arith.cmpi eq, {y}, {zero} : {ty}"));
        let divisor = b.assign(format!("arith.select {is_zero}, {one}, {y} : {ty}"));
        let quotient = b.assign(format!("arith.{op} {x}, {divisor} : {ty}"));
        return Ok(b.assign(format!("arith.select {is_zero}, {zero}, {quotient} : {ty}")));
    }
    let one = b.constant(1.0, dtype)?;
    let minus_one = b.constant(-1.0, dtype)?;
    let is_zero = b.assign(format!("arith.cmpi eq, {y}, {zero} : {ty}"));
    let is_minus_one = b.assign(format!("arith.cmpi eq, {y}, {minus_one} : {ty}"));
    let special = b.assign(format!("arith.ori {is_zero}, {is_minus_one} : i1"));
    let divisor = b.assign(format!("arith.select {special}, {one}, {y} : {ty}"));
    let quotient = b.assign(format!("arith.{op} {x}, {divisor} : {ty}"));
    let by_minus_one = if op == "divsi" {
        b.assign(format!("arith.subi {zero}, {x} : {ty}"))
    } else {
        zero.clone()
    };
    let minus_case = b.assign(format!(
        "arith.select {is_minus_one}, {by_minus_one}, {quotient} : {ty}"
    ));
    Ok(b.assign(format!("arith.select {is_zero}, {zero}, {minus_case} : {ty}")))
}

/// Python-style modulo from a C remainder: a non-zero remainder whose sign differs from
/// the divisor's gets the divisor added.
fn floor_adjust(b: &mut Body, r: &str, y: &str, dtype: DType) -> Lowered<String> {
    let zero = b.constant(0.0, dtype)?;
    let nonzero = cmp(b, "une", "ne", r, &zero, dtype)?;
    let r_negative = cmp(b, "olt", "slt", r, &zero, dtype)?;
    let y_negative = cmp(b, "olt", "slt", y, &zero, dtype)?;
    let differ = b.assign(format!("arith.xori {r_negative}, {y_negative} : i1"));
    let adjust = b.assign(format!("arith.andi {nonzero}, {differ} : i1"));
    let sum = arith(b, "addf", "addi", r, y, dtype)?;
    select(b, &adjust, &sum, r, dtype)
}

fn clip(b: &mut Body, view: &OpView, args: &[String], dtype: DType) -> Lowered<String> {
    // Block arguments follow the present operands: input, then min and max if given.
    let mut next = 1;
    let mut value = args[0].clone();
    for (slot, below) in [(1, true), (2, false)] {
        if view.inputs.get(slot).is_some_and(|o| o.is_some()) {
            let bound = &args[next];
            next += 1;
            let outside = if below {
                cmp(b, "olt", "slt", &value, bound, dtype)?
            } else {
                cmp(b, "ogt", "sgt", &value, bound, dtype)?
            };
            value = select(b, &outside, bound, &value, dtype)?;
        }
    }
    Ok(value)
}

/// Converts one scalar between element types, with ONNX Cast semantics.
pub fn convert(b: &mut Body, x: &str, from: DType, to: DType) -> Lowered<String> {
    if from == to {
        return Ok(x.to_string());
    }
    let (ft, tt) = (element(from)?, element(to)?);
    let width = |d: DType| match d {
        DType::F16 | DType::BF16 => 16,
        DType::F32 | DType::I32 => 32,
        DType::F64 | DType::I64 => 64,
        DType::I8 | DType::U8 => 8,
        DType::Bool => 1,
    };
    let unsigned_from = from == DType::U8;
    Ok(match (is_float(from), is_float(to)) {
        // int8 ↔ uint8: the same bits.
        (false, false) if width(from) == width(to) && from != DType::Bool && to != DType::Bool => x.to_string(),
        _ if to == DType::Bool => {
            let zero = b.constant(0.0, from)?;
            if is_float(from) {
                b.assign(format!("arith.cmpf une, {x}, {zero} : {ft}"))
            } else {
                b.assign(format!("arith.cmpi ne, {x}, {zero} : {ft}"))
            }
        }
        (true, true) if (from == DType::F16 && to == DType::BF16) || (from == DType::BF16 && to == DType::F16) => {
            let wide = b.assign(format!("arith.extf {x} : {ft} to f32"));
            b.assign(format!("arith.truncf {wide} : f32 to {tt}"))
        }
        (true, true) if width(to) > width(from) => b.assign(format!("arith.extf {x} : {ft} to {tt}")),
        (true, true) => b.assign(format!("arith.truncf {x} : {ft} to {tt}")),
        (true, false) if to == DType::U8 => b.assign(format!("arith.fptoui {x} : {ft} to {tt}")),
        (true, false) => b.assign(format!("arith.fptosi {x} : {ft} to {tt}")),
        (false, true) if from == DType::Bool || unsigned_from => b.assign(format!("arith.uitofp {x} : {ft} to {tt}")),
        (false, true) => b.assign(format!("arith.sitofp {x} : {ft} to {tt}")),
        (false, false) if (from == DType::Bool || unsigned_from) && width(to) > width(from) => {
            b.assign(format!("arith.extui {x} : {ft} to {tt}"))
        }
        (false, false) if width(to) > width(from) => b.assign(format!("arith.extsi {x} : {ft} to {tt}")),
        (false, false) => b.assign(format!("arith.trunci {x} : {ft} to {tt}")),
    })
}
