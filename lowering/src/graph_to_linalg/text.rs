//! Small helpers for writing linalg/tensor/arith IR as text: SSA names, types, affine
//! maps and literals. Each op's lowering writes one `func.func` with these, which the
//! pass parses and splices in place of the graph op.

use fuser_dialects::semantics::{DType, TypeInfo};

/// Why an op has no lowering (yet). Never a wrong answer: the op is refused by name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

pub type Lowered<T> = Result<T, Refusal>;

pub fn refuse<T>(message: impl Into<String>) -> Lowered<T> {
    Err(Refusal(message.into()))
}

/// The static shape of a value, or a refusal naming what is dynamic.
pub fn static_shape(info: &TypeInfo) -> Lowered<Vec<i64>> {
    info.shape
        .iter()
        .map(|d| d.ok_or_else(|| Refusal("dynamic dims need fixed shapes (fuser --shape NAME=DIMS)".into())))
        .collect()
}

/// The MLIR element type of `dtype` for arith/math ops: signless integers only.
/// The element type lowered IR uses: uint8 is signless `i8` there (see `unsigned`).
pub fn element(dtype: DType) -> Lowered<&'static str> {
    match dtype {
        DType::U8 => Ok("i8"),
        other => Ok(other.mlir()),
    }
}

/// `1, 2, 3`: a shape or offset list as MLIR writes it.
pub fn list(values: &[i64]) -> String {
    values.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
}

/// The reassociation that splits dim `at` of a rank-`rank` shape into two (for
/// `tensor.expand_shape`/`collapse_shape` of a grouped channel dim).
pub fn split_dim(rank: usize, at: usize) -> String {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < rank {
        if i == at {
            groups.push(format!("[{}, {}]", i, i + 1));
            i += 2;
        } else {
            groups.push(format!("[{i}]"));
            i += 1;
        }
    }
    format!("[{}]", groups.join(", "))
}

/// `tensor.expand_shape` of `value` (of type `from`) into `shape`, splitting dim `at` in
/// two (a grouped channel dim); returns the new value and its type.
pub fn expand_split(
    f: &mut FuncText,
    value: &str,
    from: &str,
    shape: &[i64],
    dtype: DType,
    at: usize,
) -> Lowered<(String, String)> {
    let ty = tensor_type(shape, dtype)?;
    let expanded = f.assign(format!(
        "tensor.expand_shape {value} {} output_shape [{}] : {from} into {ty}",
        split_dim(shape.len(), at),
        list(shape)
    ));
    Ok((expanded, ty))
}

/// `tensor<2x3xf32>` for a static shape.
pub fn tensor_type(shape: &[i64], dtype: DType) -> Lowered<String> {
    let mut parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    parts.push(element(dtype)?.to_string());
    Ok(format!("tensor<{}>", parts.join("x")))
}

/// Whether `dtype` is a floating-point type.
pub fn is_float(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
}

/// `affine_map<(d0, d1) -> (exprs)>` over `rank` loop dims.
pub fn affine_map(rank: usize, exprs: &[String]) -> String {
    let dims: Vec<String> = (0..rank).map(|i| format!("d{i}")).collect();
    format!("affine_map<({}) -> ({})>", dims.join(", "), exprs.join(", "))
}

pub fn identity_map(rank: usize) -> String {
    let exprs: Vec<String> = (0..rank).map(|i| format!("d{i}")).collect();
    affine_map(rank, &exprs)
}

/// The map reading an operand of `shape` broadcast (numpy rules, right-aligned) to an
/// output of rank `out_rank`: a size-1 dim that the output stretches reads index 0.
pub fn broadcast_map(shape: &[i64], out_shape: &[i64]) -> String {
    let offset = out_shape.len() - shape.len();
    let exprs: Vec<String> = shape
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if d == 1 && out_shape[offset + i] != 1 {
                "0".to_string()
            } else {
                format!("d{}", offset + i)
            }
        })
        .collect();
    affine_map(out_shape.len(), &exprs)
}

/// `["parallel", "reduction", ...]`.
pub fn iterators(kinds: &[bool]) -> String {
    let names: Vec<&str> = kinds
        .iter()
        .map(|&r| if r { "\"reduction\"" } else { "\"parallel\"" })
        .collect();
    format!("[{}]", names.join(", "))
}

/// A float literal of `dtype`: decimal when finite (MLIR needs a `.` in the mantissa),
/// the bit pattern in hex for infinities and NaN.
pub fn float_literal(value: f64, dtype: DType) -> String {
    if value.is_finite() {
        let text = format!("{value:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        return format!("{mantissa}e{exponent}");
    }
    match dtype {
        DType::F64 => format!("0x{:016X}", value.to_bits()),
        DType::F16 => format!("0x{:04X}", half::f16::from_f64(value).to_bits()),
        DType::BF16 => format!("0x{:04X}", half::bf16::from_f64(value).to_bits()),
        _ => format!("0x{:08X}", (value as f32).to_bits()),
    }
}

/// A scalar literal of `dtype` with value `value` (floats, integers, booleans).
pub fn literal(value: f64, dtype: DType) -> String {
    if is_float(dtype) {
        float_literal(value, dtype)
    } else if dtype == DType::Bool {
        if value != 0.0 { "true".into() } else { "false".into() }
    } else {
        format!("{}", value as i64)
    }
}

/// `arith.constant <value> : <type>` (booleans print as `true`/`false`, typed by the
/// parser, which rejects an explicit `: i1`).
fn constant_text(value: f64, dtype: DType) -> Lowered<String> {
    Ok(if dtype == DType::Bool {
        format!("arith.constant {}", literal(value, dtype))
    } else {
        format!("arith.constant {} : {}", literal(value, dtype), element(dtype)?)
    })
}

/// The type of an f32 tensor of `shape`.
pub fn f32_tensor(shape: &[i64]) -> String {
    format!("tensor<{}xf32>", list(shape).replace(", ", "x"))
}

/// The address of tensor `value` (of type `tensor`), read only.
pub fn read_address(f: &mut FuncText, value: &str, tensor: &str) -> String {
    let memref = tensor.replacen("tensor<", "memref<", 1);
    let buffer = f.assign(format!(
        "bufferization.to_buffer {value} read_only : {tensor} to {memref}"
    ));
    f.assign(format!(
        "memref.extract_aligned_pointer_as_index {buffer} : {memref} -> index"
    ))
}

/// A fresh buffer for a runtime call's result of type `tensor`, and its address.
pub fn fresh_output(f: &mut FuncText, tensor: &str) -> (String, String) {
    let memref = tensor.replacen("tensor<", "memref<", 1);
    let output = f.assign(format!("memref.alloc() {{alignment = 64 : i64}} : {memref}"));
    let address = f.assign(format!(
        "memref.extract_aligned_pointer_as_index {output} : {memref} -> index"
    ));
    (output, address)
}

/// The tensor a runtime call wrote into `output`.
pub fn output_tensor(f: &mut FuncText, output: &str, tensor: &str) -> String {
    let memref = tensor.replacen("tensor<", "memref<", 1);
    f.assign(format!(
        "bufferization.to_tensor {output} restrict writable : {memref} to {tensor}"
    ))
}

/// The text of one function under construction: arguments, body lines and fresh names.
pub struct FuncText {
    lines: Vec<String>,
    next: usize,
    /// Runtime functions the lines call: (symbol, number of `index` arguments).
    declarations: Vec<(&'static str, usize)>,
}

impl FuncText {
    pub fn new() -> Self {
        FuncText {
            lines: Vec::new(),
            next: 0,
            declarations: Vec::new(),
        }
    }

    /// Records that the lines call runtime function `symbol` (declared after the function
    /// by `finish`, and in the module by whoever splices the lowering).
    pub fn declare(&mut self, symbol: &'static str, arity: usize) {
        if !self.declarations.iter().any(|(s, _)| *s == symbol) {
            self.declarations.push((symbol, arity));
        }
    }

    /// The runtime functions the lines call.
    pub fn declarations(&self) -> &[(&'static str, usize)] {
        &self.declarations
    }

    /// A fresh SSA name (`%v7`).
    pub fn fresh(&mut self) -> String {
        self.next += 1;
        format!("%v{}", self.next)
    }

    /// Appends a line that defines nothing, or whose names the caller chose.
    pub fn line(&mut self, text: impl Into<String>) {
        self.lines.push(text.into());
    }

    /// Appends `%new = <rhs>` and returns `%new`.
    pub fn assign(&mut self, rhs: impl AsRef<str>) -> String {
        let name = self.fresh();
        self.lines.push(format!("{name} = {}", rhs.as_ref()));
        name
    }

    /// A scalar constant.
    pub fn constant(&mut self, value: f64, dtype: DType) -> Lowered<String> {
        let text = constant_text(value, dtype)?;
        Ok(self.assign(text))
    }

    /// Adds discardable attributes (`name = value, ...`) to the `linalg.generic` written
    /// last.
    pub fn tag_last(&mut self, attributes: &str) {
        if let Some(line) = self.lines.last_mut()
            && let Some(at) = line.find(" {\n  ^bb0")
        {
            line.insert_str(at, &format!(" attrs = {{{attributes}}}"));
        }
    }

    /// An index constant.
    pub fn index(&mut self, value: i64) -> String {
        self.assign(format!("arith.constant {value} : index"))
    }

    /// `tensor.empty() : type`.
    pub fn empty(&mut self, ty: &str) -> String {
        self.assign(format!("tensor.empty() : {ty}"))
    }

    /// A tensor filled with `value`.
    pub fn filled(&mut self, shape: &[i64], dtype: DType, value: f64) -> Lowered<String> {
        let ty = tensor_type(shape, dtype)?;
        let scalar = self.constant(value, dtype)?;
        let empty = self.empty(&ty);
        Ok(self.assign(format!(
            "linalg.fill ins({scalar} : {}) outs({empty} : {ty}) -> {ty}",
            element(dtype)?
        )))
    }

    /// Finishes `func.func @name(args) -> (results)` returning `returned`.
    pub fn finish(self, name: &str, args: &[(String, String)], returned: &[(String, String)]) -> String {
        let params: Vec<String> = args.iter().map(|(n, t)| format!("{n}: {t}")).collect();
        let result_types: Vec<&str> = returned.iter().map(|(_, t)| t.as_str()).collect();
        let result_names: Vec<&str> = returned.iter().map(|(n, _)| n.as_str()).collect();
        let mut text = format!(
            "func.func @{name}({}) -> ({}) {{\n",
            params.join(", "),
            result_types.join(", ")
        );
        for line in &self.lines {
            text.push_str("  ");
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(&format!(
            "  func.return {} : {}\n}}\n",
            result_names.join(", "),
            result_types.join(", ")
        ));
        for (symbol, arity) in &self.declarations {
            text.push_str(&crate::matmul_calls::declaration_of(symbol, *arity));
        }
        text
    }
}

impl Default for FuncText {
    fn default() -> Self {
        Self::new()
    }
}

/// Scalar code inside a `linalg.generic` body: the same SSA naming, kept separate so a
/// body's lines are indented under its op.
pub struct Body<'f> {
    pub func: &'f mut FuncText,
    pub lines: Vec<String>,
}

impl<'f> Body<'f> {
    pub fn new(func: &'f mut FuncText) -> Self {
        Body {
            func,
            lines: Vec::new(),
        }
    }
    pub fn assign(&mut self, rhs: impl AsRef<str>) -> String {
        let name = self.func.fresh();
        self.lines.push(format!("{name} = {}", rhs.as_ref()));
        name
    }
    pub fn constant(&mut self, value: f64, dtype: DType) -> Lowered<String> {
        let text = constant_text(value, dtype)?;
        Ok(self.assign(text))
    }
}

/// One operand of a `linalg.generic`: its SSA name, type and indexing map.
pub struct GenericInput {
    pub name: String,
    pub ty: String,
    pub map: String,
    pub element: String,
}

/// Writes a `linalg.generic` whose body is produced by `body` from the block arguments
/// of the inputs (the output's block argument comes last), and returns its result.
pub fn generic(
    func: &mut FuncText,
    inputs: &[GenericInput],
    output: (&str, &str, &str, &str),
    reduction: &[bool],
    body: impl FnOnce(&mut Body, &[String]) -> Lowered<String>,
) -> Lowered<String> {
    let (init, out_ty, out_map, out_element) = output;
    let args: Vec<String> = (0..=inputs.len()).map(|_| func.fresh()).collect();
    let mut block = Body::new(func);
    let value = body(&mut block, &args)?;
    let body_lines = std::mem::take(&mut block.lines);
    let mut maps: Vec<&str> = inputs.iter().map(|i| i.map.as_str()).collect();
    maps.push(out_map);
    let ins = if inputs.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        let types: Vec<&str> = inputs.iter().map(|i| i.ty.as_str()).collect();
        format!("ins({} : {}) ", names.join(", "), types.join(", "))
    };
    let mut block_args: Vec<String> = inputs
        .iter()
        .zip(&args)
        .map(|(i, a)| format!("{a}: {}", i.element))
        .collect();
    block_args.push(format!("{}: {out_element}", args[inputs.len()]));
    let mut text = format!(
        "linalg.generic {{indexing_maps = [{}], iterator_types = {}}} {ins}outs({init} : {out_ty}) {{\n  ^bb0({}):\n",
        maps.join(", "),
        iterators(reduction),
        block_args.join(", ")
    );
    for line in body_lines {
        text.push_str(&format!("    {line}\n"));
    }
    text.push_str(&format!("    linalg.yield {value} : {out_element}\n  }} -> {out_ty}"));
    Ok(func.assign(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_literals_always_have_a_mantissa_point() {
        assert_eq!(float_literal(1.0, DType::F32), "1.0e0");
        assert_eq!(float_literal(1e-5, DType::F32), "1.0e-5");
        assert_eq!(float_literal(-2.5, DType::F32), "-2.5e0");
        assert_eq!(float_literal(f64::NEG_INFINITY, DType::F32), "0xFF800000");
        assert_eq!(float_literal(f64::INFINITY, DType::F16), "0x7C00");
    }

    #[test]
    fn broadcast_maps_read_index_zero_of_stretched_dims() {
        assert_eq!(
            broadcast_map(&[3, 1], &[2, 3, 4]),
            "affine_map<(d0, d1, d2) -> (d1, 0)>"
        );
        assert_eq!(broadcast_map(&[], &[2]), "affine_map<(d0) -> ()>");
    }
}
