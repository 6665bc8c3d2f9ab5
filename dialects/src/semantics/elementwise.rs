//! Elementwise ops: unary math and activations, broadcasting binaries, comparisons and
//! logic, the variadic Max/Min/Mean/Sum, Where, Clip, Cast, Identity and Dropout.

use super::{Args, Attrs, DType, Data, Known, SemError, Tensor, TypeInfo, broadcast_dims, broadcast_static, invalid};
use ndarray::{ArrayD, IxDyn, Zip};

const UNARY_FLOAT: &[&str] = &[
    "cos",
    "erf",
    "exp",
    "log",
    "sin",
    "sqrt",
    "tanh",
    "sigmoid",
    "softplus",
    "softsign",
    "reciprocal",
    "ceil",
    "floor",
    "elu",
    "selu",
    "gelu",
    "hard_sigmoid",
    "hard_swish",
    "leaky_relu",
];
const UNARY_NUMERIC: &[&str] = &["abs", "neg", "sign", "relu"];
const BINARY: &[&str] = &["add", "sub", "mul", "div", "pow", "mod", "p_relu"];
const COMPARE: &[&str] = &["equal", "greater", "less"];
const LOGIC: &[&str] = &["and", "or"];
const VARIADIC: &[&str] = &["max", "min", "mean", "sum"];

pub(super) fn infer(op: &str, attrs: &Attrs, args: &Args<Known>) -> Option<Result<Vec<TypeInfo>, SemError>> {
    let same = |args: &Args<Known>| args.get(0).map(|k| vec![k.info.clone()]);
    let broadcast = |infos: Vec<&Known>, dtype: Option<DType>| -> Result<Vec<TypeInfo>, SemError> {
        let first = infos
            .first()
            .ok_or_else(|| SemError::Invalid(format!("'{op}' needs operands")))?;
        // Operands share one element type (Pow's exponent and Where's condition excepted).
        let typed: Vec<&&Known> = if op == "where" {
            infos[1..].iter().collect()
        } else if op == "pow" {
            infos[..1].iter().collect()
        } else {
            infos.iter().collect()
        };
        if let Some(other) = typed.iter().find(|k| k.info.dtype != typed[0].info.dtype) {
            return Err(SemError::Invalid(format!(
                "operands have element types {} and {}",
                typed[0].info.dtype, other.info.dtype
            )));
        }
        let shapes: Vec<&[Option<i64>]> = infos.iter().map(|k| k.info.shape.as_slice()).collect();
        Ok(vec![TypeInfo::new(
            dtype.unwrap_or(first.info.dtype),
            broadcast_dims(&shapes)?,
        )])
    };
    Some(match op {
        _ if UNARY_FLOAT.contains(&op) || UNARY_NUMERIC.contains(&op) || op == "not" || op == "identity" => same(args),
        "clip" => same(args),
        _ if BINARY.contains(&op) => args
            .get(0)
            .and_then(|a| args.get(1).and_then(|b| broadcast(vec![a, b], None))),
        _ if COMPARE.contains(&op) || LOGIC.contains(&op) => args
            .get(0)
            .and_then(|a| args.get(1).and_then(|b| broadcast(vec![a, b], Some(DType::Bool)))),
        _ if VARIADIC.contains(&op) => broadcast(args.present_from(0), None),
        "where" => args
            .get(1)
            .and_then(|x| broadcast(vec![args.get(0)?, x, args.get(2)?], Some(x.info.dtype))),
        "cast" => (|| {
            let to = attrs.int("to")?;
            let dtype =
                DType::from_onnx_code(to).ok_or_else(|| SemError::Unsupported(format!("Cast to ONNX type {to}")))?;
            Ok(vec![TypeInfo::new(dtype, args.get(0)?.info.shape.clone())])
        })(),
        "dropout" => args
            .get(0)
            .map(|k| vec![k.info.clone(), TypeInfo::new(DType::Bool, k.info.shape.clone())]),
        _ => return None,
    })
}

/// Combines two arrays elementwise after broadcasting them to a common shape.
pub(crate) fn zip2<A: Clone, B: Clone, R>(
    a: &ArrayD<A>,
    b: &ArrayD<B>,
    f: impl Fn(&A, &B) -> R,
) -> Result<ArrayD<R>, SemError> {
    let shape = broadcast_static(&[a.shape(), b.shape()])?;
    if let Some(r) = zip2_by_blocks(a, b, &shape, &f) {
        return Ok(r);
    }
    let a = a
        .broadcast(IxDyn(&shape))
        .ok_or_else(|| SemError::Invalid("cannot broadcast".into()))?;
    let b = b
        .broadcast(IxDyn(&shape))
        .ok_or_else(|| SemError::Invalid("cannot broadcast".into()))?;
    Ok(Zip::from(&a).and(&b).map_collect(f))
}

/// [`zip2`] over `a`'s elements in order, when `a` has the result's shape in standard
/// layout and `b` (standard layout) matches its leading axes and is 1 along the rest: each
/// of `b`'s elements then pairs with one contiguous block of `a`'s. This covers equal
/// shapes, a scalar `b`, and a per-channel factor against a conv's weights (`[C, 1, 1, 1]`
/// against `[C, K, KH, KW]`), which the general broadcast walks a row of `KW` at a time.
fn zip2_by_blocks<A, B, R>(
    a: &ArrayD<A>,
    b: &ArrayD<B>,
    shape: &[usize],
    f: &impl Fn(&A, &B) -> R,
) -> Option<ArrayD<R>> {
    let (xs, ys) = (a.as_slice()?, b.as_slice()?);
    if a.shape() != shape || b.ndim() > shape.len() {
        return None;
    }
    // `b`'s shape with leading 1s up to the result's rank.
    let b_shape: Vec<usize> = std::iter::repeat_n(1, shape.len() - b.ndim())
        .chain(b.shape().iter().copied())
        .collect();
    let leading = b_shape.iter().zip(shape).take_while(|(d, s)| d == s).count();
    if b_shape[leading..].iter().any(|&d| d != 1) {
        return None;
    }
    let block = shape[leading..].iter().product::<usize>().max(1);
    let values: Vec<R> = xs
        .chunks(block)
        .zip(ys)
        .flat_map(|(run, y)| run.iter().map(move |x| f(x, y)))
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), values).ok()
}

fn float_unary(op: &str, attrs: &Attrs, x: f64) -> Result<f64, SemError> {
    Ok(match op {
        "cos" => x.cos(),
        "erf" => libm::erf(x),
        "exp" => x.exp(),
        "log" => x.ln(),
        "sin" => x.sin(),
        "sqrt" => x.sqrt(),
        "tanh" => x.tanh(),
        "sigmoid" => 1.0 / (1.0 + (-x).exp()),
        "softplus" => x.exp().ln_1p(),
        "softsign" => x / (1.0 + x.abs()),
        "reciprocal" => 1.0 / x,
        "ceil" => x.ceil(),
        "floor" => x.floor(),
        "elu" => {
            if x >= 0.0 {
                x
            } else {
                attrs.float("alpha")? * (x.exp() - 1.0)
            }
        }
        "selu" => {
            attrs.float("gamma")?
                * if x > 0.0 {
                    x
                } else {
                    attrs.float("alpha")? * (x.exp() - 1.0)
                }
        }
        "gelu" => match attrs.string("approximate")?.as_str() {
            "none" => 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
            "tanh" => 0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh()),
            other => return invalid(format!("Gelu approximate = '{other}'")),
        },
        "hard_sigmoid" => (attrs.float("alpha")? * x + attrs.float("beta")?).clamp(0.0, 1.0),
        "hard_swish" => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
        "leaky_relu" => {
            if x >= 0.0 {
                x
            } else {
                attrs.float("alpha")? * x
            }
        }
        "abs" => x.abs(),
        "neg" => -x,
        "sign" => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        }
        "relu" => x.max(0.0),
        _ => return invalid(format!("'{op}' is not a float unary op")),
    })
}

fn int_unary(op: &str, x: i64) -> Result<i64, SemError> {
    Ok(match op {
        "abs" => x.wrapping_abs(),
        "neg" => x.wrapping_neg(),
        "sign" => x.signum(),
        "relu" => x.max(0),
        _ => return Err(SemError::Unsupported(format!("graph.{op} on integers"))),
    })
}

/// Python-style modulo (the result takes the divisor's sign), as ONNX Mod with fmod = 0.
fn int_mod(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    let r = a.wrapping_rem(b);
    if r != 0 && ((r < 0) != (b < 0)) { r + b } else { r }
}

/// The f64 function of a float binary op, chosen once for a whole tensor (not a match on
/// the op's name per element).
fn float_binary(op: &str, attrs: &Attrs) -> Result<fn(f64, f64) -> f64, SemError> {
    Ok(match op {
        "add" | "sum" | "mean" => |a, b| a + b,
        "sub" => |a, b| a - b,
        "mul" => |a, b| a * b,
        "div" => |a, b| a / b,
        "pow" => f64::powf,
        "mod" if attrs.int("fmod")? == 1 => |a, b| a % b,
        "mod" => |a, b| {
            let r = a % b;
            if r != 0.0 && ((r < 0.0) != (b < 0.0)) { r + b } else { r }
        },
        "p_relu" => |a, b| if a >= 0.0 { a } else { a * b },
        "max" => |a: f64, b: f64| if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) },
        "min" => |a: f64, b: f64| if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) },
        _ => return invalid(format!("'{op}' is not a binary op")),
    })
}

fn int_binary(op: &str, attrs: &Attrs, a: i64, b: i64) -> Result<i64, SemError> {
    Ok(match op {
        "add" | "sum" | "mean" => a.wrapping_add(b),
        "sub" => a.wrapping_sub(b),
        "mul" => a.wrapping_mul(b),
        "div" => {
            if b == 0 {
                0
            } else {
                a.wrapping_div(b)
            }
        }
        "pow" => {
            if b < 0 {
                (a as f64).powf(b as f64) as i64
            } else {
                a.wrapping_pow(b.min(u32::MAX as i64) as u32)
            }
        }
        "mod" => {
            if attrs.int("fmod")? == 1 {
                if b == 0 { 0 } else { a.wrapping_rem(b) }
            } else {
                int_mod(a, b)
            }
        }
        "p_relu" => {
            if a >= 0 {
                a
            } else {
                a.wrapping_mul(b)
            }
        }
        "max" => a.max(b),
        "min" => a.min(b),
        _ => return invalid(format!("'{op}' is not a binary op")),
    })
}

/// A binary op with the result in `a`'s dtype.
fn binary(op: &str, attrs: &Attrs, a: &Tensor, b: &Tensor) -> Result<Tensor, SemError> {
    if a.dtype.is_float() {
        let f = float_binary(op, attrs)?;
        // Float operands are read where they are (a weight tensor of ResNet-50's is 2.4M
        // values); others are converted first.
        let r = match (&a.data, &b.data) {
            (Data::Float(x), Data::Float(y)) => zip2(x, y, |&x, &y| f(x, y))?,
            (Data::Float(x), _) => zip2(x, &b.to_f64(), |&x, &y| f(x, y))?,
            _ => zip2(&a.to_f64(), &b.to_f64(), |&x, &y| f(x, y))?,
        };
        return Ok(Tensor::float(a.dtype, r));
    }
    if a.dtype.is_int() {
        if op == "pow" && b.dtype.is_float() {
            let r = zip2(&a.to_f64(), &b.to_f64(), |x, y| x.powf(*y))?;
            return Ok(Tensor::int(a.dtype, r.mapv(|x| x as i64)));
        }
        let r = zip2(&a.to_i64(), &b.to_i64(), |&x, &y| int_binary(op, attrs, x, y))?;
        let r: Result<Vec<i64>, SemError> = r.iter().cloned().collect();
        let shape = broadcast_static(&[a.shape(), b.shape()])?;
        return Ok(Tensor::int(
            a.dtype,
            ArrayD::from_shape_vec(IxDyn(&shape), r?).expect("broadcast shape"),
        ));
    }
    Err(SemError::Unsupported(format!("graph.{op} on {}", a.dtype)))
}

fn compare(op: &str, a: &Tensor, b: &Tensor) -> Result<Tensor, SemError> {
    let r = match (&a.data, &b.data) {
        (Data::Int(x), Data::Int(y)) => zip2(x, y, |p, q| cmp(op, p.partial_cmp(q)))?,
        (Data::Bool(x), Data::Bool(y)) => zip2(x, y, |p, q| cmp(op, p.partial_cmp(q)))?,
        _ => zip2(&a.to_f64(), &b.to_f64(), |p, q| cmp(op, p.partial_cmp(q)))?,
    };
    Ok(Tensor::bool(r))
}

fn cmp(op: &str, ordering: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::*;
    match op {
        "equal" => ordering == Some(Equal),
        "greater" => ordering == Some(Greater),
        _ => ordering == Some(Less),
    }
}

pub(super) fn evaluate(op: &str, attrs: &Attrs, args: &Args<Tensor>) -> Option<Result<Vec<Tensor>, SemError>> {
    Some((|| -> Result<Vec<Tensor>, SemError> {
        match op {
            _ if UNARY_FLOAT.contains(&op) || UNARY_NUMERIC.contains(&op) => {
                let x = args.get(0)?;
                if x.dtype.is_float() {
                    let r: Result<Vec<f64>, SemError> = x.to_f64().iter().map(|&v| float_unary(op, attrs, v)).collect();
                    Ok(vec![Tensor::float(
                        x.dtype,
                        ArrayD::from_shape_vec(IxDyn(x.shape()), r?).expect("same shape"),
                    )])
                } else if x.dtype.is_int() {
                    let r: Result<Vec<i64>, SemError> = x.to_i64().iter().map(|&v| int_unary(op, v)).collect();
                    Ok(vec![Tensor::int(
                        x.dtype,
                        ArrayD::from_shape_vec(IxDyn(x.shape()), r?).expect("same shape"),
                    )])
                } else {
                    Err(SemError::Unsupported(format!("graph.{op} on {}", x.dtype)))
                }
            }
            "not" => Ok(vec![Tensor::bool(args.get(0)?.to_bool().mapv(|b| !b))]),
            "identity" => Ok(vec![args.get(0)?.clone()]),
            "dropout" => {
                // Inference: the output is the input and the mask is all true.
                let x = args.get(0)?;
                Ok(vec![x.clone(), Tensor::bool(ArrayD::from_elem(IxDyn(x.shape()), true))])
            }
            _ if BINARY.contains(&op) => Ok(vec![binary(op, attrs, args.get(0)?, args.get(1)?)?]),
            _ if COMPARE.contains(&op) => Ok(vec![compare(op, args.get(0)?, args.get(1)?)?]),
            _ if LOGIC.contains(&op) => {
                let (a, b) = (args.get(0)?.to_bool(), args.get(1)?.to_bool());
                let r = if op == "and" {
                    zip2(&a, &b, |x, y| *x && *y)?
                } else {
                    zip2(&a, &b, |x, y| *x || *y)?
                };
                Ok(vec![Tensor::bool(r)])
            }
            _ if VARIADIC.contains(&op) => {
                let inputs = args.present_from(0);
                let mut acc = (*inputs
                    .first()
                    .ok_or_else(|| SemError::Invalid(format!("'{op}' needs an input")))?)
                .clone();
                for next in &inputs[1..] {
                    acc = binary(op, attrs, &acc, next)?;
                }
                if op == "mean" {
                    let n = inputs.len() as f64;
                    acc = Tensor::float(acc.dtype, acc.to_f64().mapv(|v| v / n));
                }
                Ok(vec![acc])
            }
            "where" => {
                let (c, x, y) = (args.get(0)?.to_bool(), args.get(1)?, args.get(2)?);
                let pick = |xy: Tensor| -> Result<Tensor, SemError> { Ok(xy) };
                let shape = broadcast_static(&[c.shape(), x.shape(), y.shape()])?;
                let c = c
                    .broadcast(IxDyn(&shape))
                    .ok_or_else(|| SemError::Invalid("cannot broadcast".into()))?
                    .to_owned();
                let out = match (&x.data, &y.data) {
                    (Data::Float(a), Data::Float(b)) => Tensor::float(x.dtype, select(&c, a, b, &shape)?),
                    (Data::Int(a), Data::Int(b)) => Tensor::int(x.dtype, select(&c, a, b, &shape)?),
                    (Data::Bool(a), Data::Bool(b)) => Tensor::bool(select(&c, a, b, &shape)?),
                    _ => return invalid("Where needs x and y of one dtype"),
                };
                Ok(vec![pick(out)?])
            }
            "clip" => {
                let x = args.get(0)?;
                let lo = args.opt(1).map(|t| t.to_f64_vec()).and_then(|v| v.first().copied());
                let hi = args.opt(2).map(|t| t.to_f64_vec()).and_then(|v| v.first().copied());
                let f = |v: f64| {
                    let v = lo.map_or(v, |l| if v < l { l } else { v });
                    hi.map_or(v, |h| if v > h { h } else { v })
                };
                Ok(vec![if x.dtype.is_float() {
                    Tensor::float(x.dtype, x.to_f64().mapv(f))
                } else {
                    Tensor::int(x.dtype, x.to_i64().mapv(|v| f(v as f64) as i64))
                }])
            }
            "cast" => {
                let to = attrs.int("to")?;
                let dtype = DType::from_onnx_code(to)
                    .ok_or_else(|| SemError::Unsupported(format!("Cast to ONNX type {to}")))?;
                Ok(vec![args.get(0)?.cast(dtype)])
            }
            _ => Err(SemError::Unsupported(op.to_string())),
        }
    })())
    .filter(|r| !matches!(r, Err(SemError::Unsupported(o)) if o == op))
}

fn select<T: Clone>(c: &ArrayD<bool>, a: &ArrayD<T>, b: &ArrayD<T>, shape: &[usize]) -> Result<ArrayD<T>, SemError> {
    let a = a
        .broadcast(IxDyn(shape))
        .ok_or_else(|| SemError::Invalid("cannot broadcast".into()))?;
    let b = b
        .broadcast(IxDyn(shape))
        .ok_or_else(|| SemError::Invalid("cannot broadcast".into()))?;
    Ok(Zip::from(c)
        .and(&a)
        .and(&b)
        .map_collect(|&c, x, y| if c { x.clone() } else { y.clone() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blocked walk takes equal shapes, scalars, per-channel factors with and without
    /// leading 1s and empty results, leaves the rest (a broadcast `a`, a `b` that broadcasts
    /// in the middle or at the end) to the general walk, and `zip2` gives the general
    /// broadcast's result, element for element, either way.
    #[test]
    fn blocked_zip_matches_the_general_broadcast() {
        let mut state = 12345u64;
        let mut values = |len: usize| -> Vec<f64> {
            (0..len)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (state >> 40) as f64 / (1u64 << 24) as f64 - 0.5
                })
                .collect()
        };
        // (a's shape, b's shape, whether the blocked walk takes it).
        let cases: &[(&[usize], &[usize], bool)] = &[
            (&[4, 3, 2, 2], &[4, 3, 2, 2], true),
            (&[4, 3, 2, 2], &[], true),
            (&[4, 3, 2, 2], &[1], true),
            (&[4, 3, 2, 2], &[4, 1, 1, 1], true),
            (&[1, 4, 3, 3], &[4, 1, 1], true),
            (&[1, 4, 3, 3], &[1, 4, 1, 1], true),
            (&[4, 3, 2, 2], &[4, 3, 1, 1], true),
            (&[], &[], true),
            (&[3, 0], &[3, 1], true),
            (&[4, 3], &[3], false),
            (&[4, 3, 2, 2], &[1, 3, 1, 1], false),
            (&[3], &[4, 3], false),
            (&[0, 3], &[3], false),
        ];
        for &(a_shape, b_shape, by_blocks) in cases {
            let a = ArrayD::from_shape_vec(IxDyn(a_shape), values(a_shape.iter().product())).unwrap();
            let b = ArrayD::from_shape_vec(IxDyn(b_shape), values(b_shape.iter().product())).unwrap();
            let f = |x: &f64, y: &f64| x * 3.0 - y;
            let shape = broadcast_static(&[a.shape(), b.shape()]).unwrap();
            assert_eq!(
                zip2_by_blocks(&a, &b, &shape, &f).is_some(),
                by_blocks,
                "{a_shape:?} with {b_shape:?}"
            );
            let blocked = zip2(&a, &b, f).unwrap();
            let general = Zip::from(&a.broadcast(IxDyn(&shape)).unwrap())
                .and(&b.broadcast(IxDyn(&shape)).unwrap())
                .map_collect(f);
            assert_eq!(blocked, general, "{a_shape:?} with {b_shape:?}");
        }
    }
}
