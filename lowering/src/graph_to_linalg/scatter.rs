//! ScatterND: the data, flattened, is threaded through two `scf.for` loops (over the
//! index tuples, then over the elements of each slice) that `tensor.insert` each update,
//! combined with the old value when `reduction` asks. Updates apply in order, as ONNX
//! defines; one-shot bufferization makes the inserts in place, on one copy of the data.

use super::{
    OpView,
    data_movement::reshape,
    text::{FuncText, Lowered, element, is_float, refuse, static_shape, tensor_type},
};
use fuser_dialects::semantics::DType;

pub fn handles(op: &str) -> bool {
    op == "scatter_nd"
}

pub fn lower(f: &mut FuncText, view: &OpView) -> Lowered<Vec<String>> {
    let (data, indices, updates) = (view.input(0)?, view.input(1)?, view.input(2)?);
    let dtype = data.info.dtype;
    let ty = element(dtype)?;
    let (ds, is, us) = (
        static_shape(&data.info)?,
        static_shape(&indices.info)?,
        static_shape(&updates.info)?,
    );
    let Some((&k, tuple_dims)) = is.split_last() else {
        return refuse("graph.scatter_nd with scalar indices");
    };
    let k_dims = usize::try_from(k).unwrap_or(usize::MAX);
    if k_dims > ds.len() || indices.info.dtype != DType::I64 {
        return refuse("graph.scatter_nd: indices must be i64 with a last dim within the data's rank");
    }
    let combine = |old: &str, new: &str| -> Lowered<String> {
        let float = is_float(dtype);
        let op = match (view.string("reduction")?.as_str(), float) {
            ("none", _) => return Ok(new.to_string()),
            ("add", true) => "addf",
            ("add", false) => "addi",
            ("mul", true) => "mulf",
            ("mul", false) => "muli",
            ("max", true) => "maximumf",
            ("max", false) => "maxsi",
            ("min", true) => "minimumf",
            ("min", false) => "minsi",
            (other, _) => return refuse(format!("graph.scatter_nd: reduction '{other}'")),
        };
        Ok(format!("arith.{op} {old}, {new} : {ty}"))
    };
    let total: i64 = ds.iter().product();
    let tuples: i64 = tuple_dims.iter().product();
    let slice: i64 = ds[k_dims..].iter().product();
    let flat = reshape(f, &data.name, &ds, &[total], dtype)?;
    let index_table = reshape(f, &indices.name, &is, &[tuples, k], DType::I64)?;
    let update_table = reshape(f, &updates.name, &us, &[tuples, slice], dtype)?;
    let (flat_ty, index_ty, update_ty) = (
        tensor_type(&[total], dtype)?,
        tensor_type(&[tuples, k], DType::I64)?,
        tensor_type(&[tuples, slice], dtype)?,
    );
    let (zero, one, count, width) = (f.index(0), f.index(1), f.index(tuples), f.index(slice));
    let (n, acc, s, acc2) = (f.fresh(), f.fresh(), f.fresh(), f.fresh());
    let mut body = Vec::new();
    // The flat offset of the tuple's slice: Σ index_j · stride_j, negative indices
    // counting from the end.
    let mut base = zero.clone();
    for j in 0..k_dims {
        let stride: i64 = ds[j + 1..].iter().product();
        let names: Vec<String> = (0..8).map(|_| f.fresh()).collect();
        body.push(format!("{} = arith.constant {j} : index", names[0]));
        body.push(format!(
            "{} = tensor.extract {index_table}[{n}, {}] : {index_ty}",
            names[1], names[0]
        ));
        body.push(format!("{} = arith.index_cast {} : i64 to index", names[2], names[1]));
        body.push(format!("{} = arith.cmpi slt, {}, {zero} : index", names[3], names[2]));
        body.push(format!("{} = arith.constant {} : index", names[4], ds[j]));
        body.push(format!("{} = arith.addi {}, {} : index", names[5], names[2], names[4]));
        body.push(format!(
            "{} = arith.select {}, {}, {} : index",
            names[6], names[3], names[5], names[2]
        ));
        let (stride_name, scaled) = (f.fresh(), f.fresh());
        body.push(format!("{stride_name} = arith.constant {stride} : index"));
        body.push(format!("{scaled} = arith.muli {}, {stride_name} : index", names[6]));
        body.push(format!("{} = arith.addi {base}, {scaled} : index", names[7]));
        base = names[7].clone();
    }
    let (position, update, old, new, inserted, inner) =
        (f.fresh(), f.fresh(), f.fresh(), f.fresh(), f.fresh(), f.fresh());
    let combined = combine(&old, &update)?;
    let mut inner_body = vec![
        format!("{position} = arith.addi {base}, {s} : index"),
        format!("{update} = tensor.extract {update_table}[{n}, {s}] : {update_ty}"),
    ];
    let stored = if combined == update {
        update.clone()
    } else {
        inner_body.push(format!("{old} = tensor.extract {acc2}[{position}] : {flat_ty}"));
        inner_body.push(format!("{new} = {combined}"));
        new.clone()
    };
    inner_body.push(format!(
        "{inserted} = tensor.insert {stored} into {acc2}[{position}] : {flat_ty}"
    ));
    inner_body.push(format!("scf.yield {inserted} : {flat_ty}"));
    body.push(format!(
        "{inner} = scf.for {s} = {zero} to {width} step {one} iter_args({acc2} = {acc}) -> ({flat_ty}) {{\n    {}\n  }}",
        inner_body.join("\n    ")
    ));
    body.push(format!("scf.yield {inner} : {flat_ty}"));
    let result = f.assign(format!(
        "scf.for {n} = {zero} to {count} step {one} iter_args({acc} = {flat}) -> ({flat_ty}) {{\n  {}\n}}",
        body.join("\n  ")
    ));
    Ok(vec![reshape(f, &result, &[total], &ds, dtype)?])
}
