//! ConvTranspose (any spatial rank, groups, strides, dilations, pads, output padding) as
//! a correlation: the input is spread out by the strides (zeros between its elements)
//! and padded by `dilation·(kernel-1)` on each side, in one `tensor.insert_slice` with
//! strides into zeros; then one `linalg.generic` correlates it with the kernel flipped
//! (by another generic), reading from `output + pad_begin`, which crops the padding the
//! op asks for.
//!
//! Output position `p` receives input `i` through tap `k` when `p = i·s + k·d - pad`
//! (the evaluator's definition); in the spread-out, padded input `i` sits at
//! `P + i·s` with `P = d·(K-1)`, and `p + pad + k'·d` with the flipped tap
//! `k' = K-1-k` lands there exactly.

use super::{
    OpView,
    text::{
        FuncText, GenericInput, Lowered, affine_map, element, expand_split, generic, identity_map, is_float, list,
        refuse, split_dim, static_shape, tensor_type,
    },
};

pub fn conv_transpose(f: &mut FuncText, view: &OpView) -> Lowered<String> {
    let (x, w) = (view.input(0)?, view.input(1)?);
    let dtype = x.info.dtype;
    if !is_float(dtype) {
        return refuse(format!("graph.conv_transpose on {dtype}"));
    }
    let ty = element(dtype)?;
    let (xs, ws) = (static_shape(&x.info)?, static_shape(&w.info)?);
    let out = static_shape(view.result(0)?)?;
    let spatial = xs.len() - 2;
    let group = view.int("group")?;
    let (strides, dilations, pads) = (view.ints("strides")?, view.ints("dilations")?, view.ints("pads")?);
    let output_padding = view.ints("output_padding")?;
    let (n, c, fg) = (xs[0], xs[1], ws[1]);
    let cg = c / group;
    let kernel = &ws[2..];
    // The spread-out, padded input: zeros, with x inserted at P, every s.
    let low: Vec<i64> = (0..spatial).map(|i| dilations[i] * (kernel[i] - 1)).collect();
    let mut padded = vec![n, c];
    for i in 0..spatial {
        let spread = (xs[2 + i] - 1) * strides[i] + 1;
        let high = low[i] + output_padding.get(i).copied().unwrap_or(0);
        padded.push(low[i] + spread + high);
    }
    let padded_ty = tensor_type(&padded, dtype)?;
    let zeros = f.filled(&padded, dtype, 0.0)?;
    let mut offsets = vec![0, 0];
    offsets.extend(&low);
    let mut steps = vec![1, 1];
    steps.extend(&strides);
    let spread = f.assign(format!(
        "tensor.insert_slice {} into {zeros}[{}] [{}] [{}] : {} into {padded_ty}",
        x.name,
        list(&offsets),
        list(&xs),
        list(&steps),
        tensor_type(&xs, dtype)?
    ));
    // Loops: n, g, f, o_1..o_s, then c, k_1..k_s.
    let mut xe = vec![n, group, cg];
    xe.extend(&padded[2..]);
    let mut we = vec![group, cg, fg];
    we.extend(kernel);
    let mut oe = vec![n, group, fg];
    oe.extend(&out[2..]);
    let out_ty = tensor_type(&out, dtype)?;
    let (xv, txe) = expand_split(f, &spread, &padded_ty, &xe, dtype, 1)?;
    // The kernel flipped in every spatial dim (a generic of its own: linalg needs the
    // correlation's maps to be invertible, which `K-1-k` in it would not be).
    let w_ty = tensor_type(&ws, dtype)?;
    let flip_exprs: Vec<String> = (0..ws.len())
        .map(|i| {
            if i < 2 {
                format!("d{i}")
            } else {
                format!("{} - d{i}", ws[i] - 1)
            }
        })
        .collect();
    let flip_empty = f.empty(&w_ty);
    let flipped = generic(
        f,
        &[GenericInput {
            name: w.name.clone(),
            ty: w_ty.clone(),
            map: affine_map(ws.len(), &flip_exprs),
            element: ty.to_string(),
        }],
        (&flip_empty, &w_ty, &identity_map(ws.len()), ty),
        &vec![false; ws.len()],
        |_, args| Ok(args[0].clone()),
    )?;
    let (wv, twe) = expand_split(f, &flipped, &w_ty, &we, dtype, 0)?;
    let init = match view.has_input(2) {
        true => {
            let bias = view.input(2)?;
            let empty = f.empty(&out_ty);
            let input = GenericInput {
                name: bias.name.clone(),
                ty: tensor_type(&static_shape(&bias.info)?, dtype)?,
                map: affine_map(out.len(), &["d1".to_string()]),
                element: ty.to_string(),
            };
            generic(
                f,
                &[input],
                (&empty, &out_ty, &identity_map(out.len()), ty),
                &vec![false; out.len()],
                |_, args| Ok(args[0].clone()),
            )?
        }
        false => f.filled(&out, dtype, 0.0)?,
    };
    let (init_e, toe) = expand_split(f, &init, &out_ty, &oe, dtype, 1)?;
    let result = super::contraction::grouped_correlation(
        f,
        (&xv, &txe),
        (&wv, &twe),
        (&init_e, &toe),
        spatial,
        |i, o, k| format!("{o} + {} + {k} * {}", pads[i], dilations[i]),
        true,
        dtype,
    )?;
    Ok(f.assign(format!(
        "tensor.collapse_shape {result} {} : {toe} into {out_ty}",
        split_dim(oe.len(), 1)
    )))
}
