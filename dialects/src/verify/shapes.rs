//! Static shape rules. Each rule runs only when the shapes it reads are static; a `?`
//! dim is refined later by `graph-infer-shapes`, so it is never an error here.

use super::OpView;
use crate::ffi::TensorInfo;
use melior::ir::operation::OperationLike;

/// Multidirectional (numpy) broadcasting of static shapes, as ONNX defines it.
pub fn broadcast_shapes(shapes: &[Vec<i64>]) -> Result<Vec<i64>, String> {
    let rank = shapes.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = vec![1i64; rank];
    for shape in shapes {
        let offset = rank - shape.len();
        for (i, &d) in shape.iter().enumerate() {
            let o = &mut out[offset + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(format!(
                    "operand shapes {} are not broadcast-compatible",
                    fmt_shapes(shapes)
                ));
            }
        }
    }
    Ok(out)
}

fn fmt_shape(shape: &[i64]) -> String {
    format!("[{}]", shape.iter().map(i64::to_string).collect::<Vec<_>>().join(", "))
}

fn fmt_shapes(shapes: &[Vec<i64>]) -> String {
    shapes.iter().map(|s| fmt_shape(s)).collect::<Vec<_>>().join(" and ")
}

fn statics(infos: &[Option<TensorInfo>]) -> Option<Vec<Vec<i64>>> {
    infos
        .iter()
        .map(|i| i.as_ref().and_then(TensorInfo::static_shape))
        .collect()
}

fn expect_result(view: &OpView, index: usize, expected: &[i64]) -> Result<(), String> {
    let Some(actual) = view.result_info(index).and_then(|r| r.static_shape()) else {
        return Ok(());
    };
    if actual != expected {
        return Err(format!(
            "result #{index} has shape {}, but the operands give {}",
            fmt_shape(&actual),
            fmt_shape(expected)
        ));
    }
    Ok(())
}

fn normalize_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    if axis < -r || axis >= r.max(1) {
        return Err(format!("axis {axis} is out of range for rank {rank}"));
    }
    Ok(if axis < 0 { (axis + r) as usize } else { axis as usize })
}

pub(super) fn check(view: &OpView) -> Result<(), String> {
    let op = view.name.strip_prefix("graph.").unwrap_or(&view.name);
    let x = view.operand_info(0).and_then(|t| t.static_shape());
    match op {
        "add" | "sub" | "mul" | "div" | "pow" | "and" | "or" | "equal" | "greater" | "less" | "max" | "min"
        | "mean" | "sum" | "where" | "p_relu" => {
            let Some(shapes) = statics(&view.operand_infos()) else {
                return Ok(());
            };
            let out = broadcast_shapes(&shapes)?;
            expect_result(view, 0, &out)
        }
        "abs"
        | "ceil"
        | "cos"
        | "erf"
        | "exp"
        | "floor"
        | "hard_swish"
        | "identity"
        | "log"
        | "neg"
        | "not"
        | "reciprocal"
        | "relu"
        | "sigmoid"
        | "sign"
        | "sin"
        | "softplus"
        | "softsign"
        | "sqrt"
        | "tanh"
        | "elu"
        | "selu"
        | "gelu"
        | "hard_sigmoid"
        | "leaky_relu"
        | "cast"
        | "clip"
        | "dropout"
        | "lrn"
        | "batch_normalization"
        | "instance_normalization"
        | "layer_normalization"
        | "ftensor.quantize"
        | "ftensor.dequantize"
        | "cann.relu"
        | "cann.softmax" => {
            let Some(x) = x else { return Ok(()) };
            expect_result(view, 0, &x)
        }
        "softmax" | "log_softmax" => {
            let Some(x) = x else { return Ok(()) };
            normalize_axis(view.int("axis"), x.len())?;
            expect_result(view, 0, &x)
        }
        "mat_mul" | "cann.matmul" => {
            let (Some(a), Some(b)) = (x, view.operand_info(1).and_then(|t| t.static_shape())) else {
                return Ok(());
            };
            expect_result(view, 0, &matmul_shape(&a, &b)?)
        }
        "gemm" => {
            let (Some(a), Some(b)) = (x, view.operand_info(1).and_then(|t| t.static_shape())) else {
                return Ok(());
            };
            if a.len() != 2 || b.len() != 2 {
                return Err("operands A and B must be 2-D".into());
            }
            let (m, ka) = if view.int("trans_a") != 0 {
                (a[1], a[0])
            } else {
                (a[0], a[1])
            };
            let (kb, n) = if view.int("trans_b") != 0 {
                (b[1], b[0])
            } else {
                (b[0], b[1])
            };
            if ka != kb {
                return Err(format!("inner dimensions differ: A gives K = {ka}, B gives K = {kb}"));
            }
            if let Some(c) = view.slot_operand(2).and_then(|t| t.static_shape()) {
                broadcast_shapes(&[vec![m, n], c.clone()])
                    .ok()
                    .filter(|s| s == &vec![m, n])
                    .ok_or_else(|| format!("C of shape {} does not broadcast to [{m}, {n}]", fmt_shape(&c)))?;
            }
            expect_result(view, 0, &[m, n])
        }
        "conv" => {
            let (Some(x), Some(w)) = (x, view.operand_info(1).and_then(|t| t.static_shape())) else {
                return Ok(());
            };
            expect_result(view, 0, &conv_shape(view, &x, &w)?)
        }
        "average_pool" | "max_pool" => {
            let Some(x) = x else { return Ok(()) };
            let out = pool_shape(view, &x)?;
            expect_result(view, 0, &out)?;
            if view.op.result_count() > 1 {
                expect_result(view, 1, &out)?;
            }
            Ok(())
        }
        "global_average_pool" | "global_max_pool" => {
            let Some(x) = x else { return Ok(()) };
            if x.len() < 3 {
                return Err(format!(
                    "operand must have rank >= 3 (N, C, spatial...), got rank {}",
                    x.len()
                ));
            }
            let out: Vec<i64> = x.iter().enumerate().map(|(i, &d)| if i < 2 { d } else { 1 }).collect();
            expect_result(view, 0, &out)
        }
        "reshape" => {
            let (Some(input), Some(result)) = (view.operand_info(0), view.result_info(0)) else {
                return Ok(());
            };
            if let (Some(a), Some(b)) = (input.element_count(), result.element_count())
                && a != b
            {
                return Err(format!("cannot reshape {a} elements into {b} elements"));
            }
            Ok(())
        }
        "flatten" => {
            let Some(x) = x else { return Ok(()) };
            let axis = view.int("axis");
            let r = x.len() as i64;
            if axis < -r || axis > r {
                return Err(format!("axis {axis} is out of range for rank {r}"));
            }
            let axis = if axis < 0 { axis + r } else { axis } as usize;
            let out = vec![x[..axis].iter().product(), x[axis..].iter().product()];
            expect_result(view, 0, &out)
        }
        "transpose" => {
            let Some(x) = x else { return Ok(()) };
            let perm = view.ints("perm");
            let mut seen = perm.clone();
            seen.sort_unstable();
            if seen != (0..x.len() as i64).collect::<Vec<_>>() {
                return Err(format!(
                    "'perm' {} is not a permutation of the {} dims",
                    fmt_shape(&perm),
                    x.len()
                ));
            }
            let out: Vec<i64> = perm.iter().map(|&p| x[p as usize]).collect();
            expect_result(view, 0, &out)
        }
        "concat" => {
            let infos = view.operand_infos();
            let Some(first) = infos.first().and_then(|i| i.as_ref()) else {
                return Err("needs at least one operand".into());
            };
            let rank = first.rank();
            let axis = normalize_axis(view.int("axis"), rank)?;
            for (i, info) in infos.iter().enumerate() {
                if let Some(info) = info
                    && info.rank() != rank
                {
                    return Err(format!(
                        "operand #{i} has rank {}, but operand #0 has rank {rank}",
                        info.rank()
                    ));
                }
            }
            let Some(shapes) = statics(&infos) else { return Ok(()) };
            let mut out = shapes[0].clone();
            for (i, s) in shapes.iter().enumerate().skip(1) {
                for d in 0..rank {
                    if d != axis && s[d] != out[d] {
                        return Err(format!(
                            "operand #{i} has shape {}, which differs from operand #0 outside the concat axis {axis}",
                            fmt_shape(s)
                        ));
                    }
                }
                out[axis] += s[axis];
            }
            expect_result(view, 0, &out)
        }
        "ftensor.relayout" => {
            let (src, dst) = (view.string("src_layout"), view.string("dst_layout"));
            let mut a: Vec<char> = src.chars().collect();
            let mut b: Vec<char> = dst.chars().collect();
            a.sort_unstable();
            b.sort_unstable();
            if a != b || a.windows(2).any(|w| w[0] == w[1]) {
                return Err(format!(
                    "layouts '{src}' and '{dst}' must be permutations of the same distinct letters"
                ));
            }
            let Some(x) = x else { return Ok(()) };
            if x.len() != src.len() {
                return Err(format!(
                    "operand has rank {}, but layout '{src}' names {} dims",
                    x.len(),
                    src.len()
                ));
            }
            let out: Vec<i64> = dst.chars().map(|c| x[src.find(c).unwrap_or(0)]).collect();
            expect_result(view, 0, &out)
        }
        _ => Ok(()),
    }
}

/// ONNX MatMul (numpy matmul): 1-D operands are promoted, batch dims broadcast.
fn matmul_shape(a: &[i64], b: &[i64]) -> Result<Vec<i64>, String> {
    if a.is_empty() || b.is_empty() {
        return Err("operands must have rank >= 1".into());
    }
    let a2: Vec<i64> = if a.len() == 1 { vec![1, a[0]] } else { a.to_vec() };
    let b2: Vec<i64> = if b.len() == 1 { vec![b[0], 1] } else { b.to_vec() };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != kb {
        return Err(format!(
            "inner dimensions differ: {} has K = {k}, {} has K = {kb}",
            fmt_shape(a),
            fmt_shape(b)
        ));
    }
    let batch = broadcast_shapes(&[a2[..a2.len() - 2].to_vec(), b2[..b2.len() - 2].to_vec()])?;
    let mut out = batch;
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Ok(out)
}

use crate::semantics::window_out as spatial_out;

fn conv_shape(view: &OpView, x: &[i64], w: &[i64]) -> Result<Vec<i64>, String> {
    if x.len() < 3 || x.len() != w.len() {
        return Err(format!(
            "X {} and W {} must have equal rank >= 3",
            fmt_shape(x),
            fmt_shape(w)
        ));
    }
    let spatial = x.len() - 2;
    let kernel = view.ints("kernel_shape");
    if kernel.len() != spatial || kernel[..] != w[2..] {
        return Err(format!(
            "'kernel_shape' {} does not match the weight's spatial dims {}",
            fmt_shape(&kernel),
            fmt_shape(&w[2..])
        ));
    }
    let group = view.int("group");
    if x[1] != w[1] * group {
        return Err(format!(
            "input has {} channels, but the weight expects {} x group {group} = {}",
            x[1],
            w[1],
            w[1] * group
        ));
    }
    if w[0] % group != 0 {
        return Err(format!("{} output channels are not divisible by group {group}", w[0]));
    }
    if let Some(b) = view.slot_operand(2).and_then(|t| t.static_shape())
        && b != [w[0]]
    {
        return Err(format!("bias has shape {}, expected [{}]", fmt_shape(&b), w[0]));
    }
    let mut out = vec![x[0], w[0]];
    out.extend(window_dims(view, x, &kernel, false, "kernel")?);
    Ok(out)
}

/// The spatial output dims of a sliding window over `x` (N, C, spatial...), or an error
/// naming the dim that is too small for it.
fn window_dims(view: &OpView, x: &[i64], kernel: &[i64], ceil: bool, what: &str) -> Result<Vec<i64>, String> {
    let spatial = kernel.len();
    let (strides, dilations, pads) = (view.ints("strides"), view.ints("dilations"), view.ints("pads"));
    (0..spatial)
        .map(|i| {
            let o = spatial_out(
                x[i + 2],
                kernel[i],
                strides[i],
                dilations[i],
                pads[i],
                pads[i + spatial],
                ceil,
            );
            if o < 1 {
                return Err(format!(
                    "spatial dim {i} of size {} is too small for the {what}",
                    x[i + 2]
                ));
            }
            Ok(o)
        })
        .collect()
}

fn pool_shape(view: &OpView, x: &[i64]) -> Result<Vec<i64>, String> {
    let kernel = view.ints("kernel_shape");
    if x.len() != kernel.len() + 2 {
        return Err(format!(
            "operand has rank {}, but 'kernel_shape' has {} dims",
            x.len(),
            kernel.len()
        ));
    }
    let mut out = vec![x[0], x[1]];
    out.extend(window_dims(view, x, &kernel, view.int("ceil_mode") != 0, "window")?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shapes(&[vec![2, 1, 4], vec![3, 1]]).unwrap(), vec![2, 3, 4]);
        assert_eq!(broadcast_shapes(&[vec![], vec![5]]).unwrap(), vec![5]);
        assert!(broadcast_shapes(&[vec![2, 3], vec![4]]).is_err());
    }

    #[test]
    fn matmul_promotes_vectors_and_broadcasts_batches() {
        assert_eq!(matmul_shape(&[2, 16], &[16, 8]).unwrap(), vec![2, 8]);
        assert_eq!(matmul_shape(&[16], &[16, 8]).unwrap(), vec![8]);
        assert_eq!(matmul_shape(&[3, 1, 2, 4], &[5, 4, 6]).unwrap(), vec![3, 5, 2, 6]);
        assert!(matmul_shape(&[2, 16], &[15, 8]).is_err());
    }

    #[test]
    fn pooling_ceil_mode_drops_window_in_padding() {
        // 5 wide, kernel 2, stride 2: floor gives 2, ceil gives 3.
        assert_eq!(spatial_out(5, 2, 2, 1, 0, 0, false), 2);
        assert_eq!(spatial_out(5, 2, 2, 1, 0, 0, true), 3);
        // 56 wide, 3x3 stride 2 pad 1 (ResNet stem pool): 28.
        assert_eq!(spatial_out(112, 3, 2, 1, 1, 1, false), 56);
    }
}
