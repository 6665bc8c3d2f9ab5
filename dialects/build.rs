//! Reads the IRDL definitions in `irdl/` and generates, into OUT_DIR:
//! - `op_specs.rs`: one `OpSpec` table per dialect (operands, results, attributes and
//!   their kinds), used by the Rust verifier and the doc generator;
//! - `graph_ops.rs`: a typed wrapper per graph op with accessors and a builder.
//!
//! The IRDL files are the single source of truth for the op sets. The parser below
//! understands the subset of IRDL these files use: `irdl.base` constraints bound to SSA
//! names, `irdl.operands`, `irdl.results` and `irdl.attributes`, with `optional` and
//! `variadic` markers. Anything else is a build error, so the files cannot drift silently.

use std::{collections::BTreeMap, env, fmt::Write as _, fs, path::Path};

const DIALECTS: [&str; 4] = ["graph", "ftensor", "hw", "cann"];

#[derive(Clone, Copy, PartialEq)]
enum Arity {
    Single,
    Optional,
    Variadic,
}

struct Slot {
    name: String,
    arity: Arity,
    base: String,
}

struct Op {
    name: String,
    doc: Vec<String>,
    operands: Vec<Slot>,
    results: Vec<Slot>,
    attributes: Vec<(String, String)>,
}

fn parse_slots(list: &str, vars: &BTreeMap<String, String>, file: &str) -> Vec<Slot> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let (name, rest) = entry
                .split_once(':')
                .unwrap_or_else(|| panic!("{file}: malformed slot `{entry}`"));
            let rest = rest.trim();
            let (arity, var) = if let Some(v) = rest.strip_prefix("optional ") {
                (Arity::Optional, v)
            } else if let Some(v) = rest.strip_prefix("variadic ") {
                (Arity::Variadic, v)
            } else {
                (Arity::Single, rest)
            };
            let var = var.trim().trim_start_matches('%');
            let base = vars
                .get(var)
                .unwrap_or_else(|| panic!("{file}: unknown constraint %{var}"))
                .clone();
            Slot {
                name: name.trim().to_string(),
                arity,
                base,
            }
        })
        .collect()
}

fn parse_dialect(text: &str, file: &str) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut pending_doc: Vec<String> = Vec::new();
    let mut current: Option<(Op, BTreeMap<String, String>)> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(comment) = line.strip_prefix("//") {
            if raw.starts_with("  //") && current.is_none() {
                pending_doc.push(comment.trim().to_string());
            }
            continue;
        }
        if line.is_empty() || line.starts_with("irdl.dialect") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("irdl.operation @") {
            let name = rest.trim_end_matches('{').trim().to_string();
            let op = Op {
                name,
                doc: std::mem::take(&mut pending_doc),
                operands: vec![],
                results: vec![],
                attributes: vec![],
            };
            current = Some((op, BTreeMap::new()));
            continue;
        }
        if line == "}" {
            if let Some((op, _)) = current.take() {
                ops.push(op);
            }
            continue;
        }
        let (op, vars) = current
            .as_mut()
            .unwrap_or_else(|| panic!("{file}: `{line}` outside an operation"));
        if let Some((lhs, rhs)) = line.split_once("= irdl.base") {
            let var = lhs.trim().trim_start_matches('%').to_string();
            let base = rhs.trim().trim_matches('"').to_string();
            vars.insert(var, base);
        } else if let Some(rest) = line.strip_prefix("irdl.operands(") {
            op.operands = parse_slots(rest.trim_end_matches(')'), vars, file);
        } else if let Some(rest) = line.strip_prefix("irdl.results(") {
            op.results = parse_slots(rest.trim_end_matches(')'), vars, file);
        } else if let Some(rest) = line.strip_prefix("irdl.attributes {") {
            for entry in rest.trim_end_matches('}').split(',') {
                let (name, var) = entry.split_once('=').expect("attribute entry");
                let name = name.trim().trim_matches('"').to_string();
                let var = var.trim().trim_start_matches('%');
                let base = vars
                    .get(var)
                    .unwrap_or_else(|| panic!("{file}: unknown constraint %{var}"))
                    .clone();
                op.attributes.push((name, base));
            }
        } else {
            panic!("{file}: unsupported IRDL line `{line}`");
        }
    }
    ops
}

fn arity(a: Arity) -> &'static str {
    match a {
        Arity::Single => "Arity::Single",
        Arity::Optional => "Arity::Optional",
        Arity::Variadic => "Arity::Variadic",
    }
}

fn attr_kind(base: &str) -> &'static str {
    match base {
        "#builtin.dense_array" => "AttrKind::I64Array",
        "#builtin.integer" => "AttrKind::Integer",
        "#builtin.float" => "AttrKind::Float",
        "#builtin.string" => "AttrKind::String",
        "#builtin.dense_int_or_fp_elements" => "AttrKind::DenseElements",
        "#builtin.symbol_ref" => "AttrKind::SymbolRef",
        "#builtin.array" => "AttrKind::Array",
        other => panic!("unsupported attribute base {other}"),
    }
}

fn pascal(name: &str) -> String {
    name.split('_')
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Rust identifiers for IRDL names that are keywords.
fn ident(name: &str) -> String {
    match name {
        "where" | "self" | "type" | "mod" | "in" | "ref" => format!("r#{name}"),
        _ => name.to_string(),
    }
}

fn gen_specs(out: &mut String, dialect: &str, ops: &[Op]) {
    let upper = dialect.to_uppercase();
    writeln!(
        out,
        "/// The ops of the `{dialect}` dialect, as declared in `irdl/{dialect}.mlir`."
    )
    .unwrap();
    writeln!(out, "pub static {upper}_OPS: &[OpSpec] = &[").unwrap();
    for op in ops {
        let slots = |s: &[Slot]| {
            s.iter()
                .map(|s| {
                    format!(
                        "SlotSpec {{ name: {:?}, arity: {}, base: {:?} }}",
                        s.name,
                        arity(s.arity),
                        s.base
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let attrs = op
            .attributes
            .iter()
            .map(|(n, b)| format!("AttrSpec {{ name: {n:?}, kind: {} }}", attr_kind(b)))
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(
            out,
            "    OpSpec {{ dialect: {dialect:?}, name: {:?}, doc: {:?}, operands: &[{}], results: &[{}], attributes: &[{}] }},",
            op.name,
            op.doc.join(" "),
            slots(&op.operands),
            slots(&op.results),
            attrs
        )
        .unwrap();
    }
    writeln!(out, "];").unwrap();
}

fn rust_attr_type(base: &str) -> (&'static str, &'static str) {
    // (accessor return type, builder parameter type)
    match base {
        "#builtin.dense_array" => ("Vec<i64>", "&[i64]"),
        "#builtin.integer" => ("i64", "i64"),
        "#builtin.float" => ("f64", "f64"),
        "#builtin.string" => ("String", "&str"),
        "#builtin.dense_int_or_fp_elements" => ("Attribute<'c>", "Attribute<'c>"),
        other => panic!("unsupported graph attribute base {other}"),
    }
}

/// A logical operand or result list of the typed API: one IRDL slot, or a family of
/// slots `<base>_0` (required) .. `<base>_N` (optional) that stands for an ONNX variadic
/// (IRDL forces one type on all values of a `variadic` slot).
enum Logical {
    Slot(usize),
    Family { base: String, start: usize, len: usize },
}

fn family_base(name: &str) -> Option<(&str, usize)> {
    let (base, index) = name.rsplit_once('_')?;
    index.parse().ok().map(|i| (base, i))
}

fn logical_slots(slots: &[Slot]) -> Vec<Logical> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < slots.len() {
        if let Some((base, 0)) = family_base(&slots[i].name) {
            let len = slots[i..]
                .iter()
                .enumerate()
                .take_while(|(k, s)| family_base(&s.name) == Some((base, *k)))
                .count();
            if len > 1 {
                out.push(Logical::Family {
                    base: base.to_string(),
                    start: i,
                    len,
                });
                i += len;
                continue;
            }
        }
        out.push(Logical::Slot(i));
        i += 1;
    }
    out
}

/// Builder parameters and group expressions for the operands (element `Value`) or the
/// results (element `Type`) of one op. Families take a slice and fill their slots in order.
fn builder_groups(
    slots: &[Slot],
    op: &str,
    element: &str,
    param_name: impl Fn(&str) -> String,
    params: &mut Vec<String>,
    checks: &mut Vec<String>,
) -> Vec<String> {
    let mut exprs = Vec::new();
    for logical in logical_slots(slots) {
        match logical {
            Logical::Family { base, len, .. } => {
                let name = if element.starts_with("Type") {
                    format!("{base}_types")
                } else {
                    ident(&base)
                };
                params.push(format!("{name}: &[{element}]"));
                checks.push(format!(
                    "crate::accessors::check_family_len({op:?}, {base:?}, {name}.len(), {len})?;"
                ));
                exprs.push(format!("{name}.first().copied().into_iter().collect::<Vec<_>>()"));
                for k in 1..len {
                    exprs.push(format!("{name}.get({k}).copied().into_iter().collect::<Vec<_>>()"));
                }
            }
            Logical::Slot(i) => {
                let name = param_name(&slots[i].name);
                let (param, expr) = match slots[i].arity {
                    Arity::Single => (element.to_string(), format!("vec![{name}]")),
                    Arity::Optional => (
                        format!("Option<{element}>"),
                        format!("{name}.into_iter().collect::<Vec<_>>()"),
                    ),
                    Arity::Variadic => (format!("&[{element}]"), format!("{name}.to_vec()")),
                };
                params.push(format!("{name}: {param}"));
                exprs.push(expr);
            }
        }
    }
    exprs
}

fn gen_graph_wrappers(out: &mut String, ops: &[Op]) {
    for (index, op) in ops.iter().enumerate() {
        let ty = pascal(&op.name);
        let full = format!("graph.{}", op.name);
        writeln!(
            out,
            "/// Typed view of `{full}`. Obtain one with [`{ty}::cast`], which checks the op name and"
        )
        .unwrap();
        writeln!(
            out,
            "/// that every declared attribute is present with its kind, so the accessors cannot fail."
        )
        .unwrap();
        writeln!(out, "#[derive(Clone, Copy, Debug)]").unwrap();
        writeln!(out, "pub struct {ty}<'c, 'a> {{ op: OperationRef<'c, 'a> }}").unwrap();
        writeln!(out, "#[allow(clippy::self_named_constructors)]").unwrap();
        writeln!(out, "impl<'c, 'a> {ty}<'c, 'a> {{").unwrap();
        writeln!(out, "    /// The full op name.").unwrap();
        writeln!(out, "    pub const NAME: &'static str = {full:?};").unwrap();
        writeln!(out, "    /// The op's entry in [`GRAPH_OPS`].").unwrap();
        writeln!(out, "    pub fn spec() -> &'static OpSpec {{ &GRAPH_OPS[{index}] }}").unwrap();
        writeln!(
            out,
            "    /// Views `op` as `{full}`, or `None` if it is another op or lacks a declared attribute."
        )
        .unwrap();
        writeln!(out, "    pub fn cast(op: OperationRef<'c, 'a>) -> Option<Self> {{").unwrap();
        writeln!(out, "        (crate::accessors::op_name(&op) == Self::NAME && crate::accessors::has_declared_attributes(&op, Self::spec())).then_some(Self {{ op }})").unwrap();
        writeln!(out, "    }}").unwrap();
        writeln!(out, "    /// The underlying operation.").unwrap();
        writeln!(out, "    pub fn operation(&self) -> OperationRef<'c, 'a> {{ self.op }}").unwrap();
        for (kind, slots, group) in [
            ("operand", &op.operands, "operand_group"),
            ("result", &op.results, "result_group"),
        ] {
            let suffix = if kind == "result" { "_result" } else { "" };
            for logical in logical_slots(slots) {
                match logical {
                    Logical::Family { base, start, len } => writeln!(
                        out,
                        "    /// The {kind}s `{base}_0` .. `{base}_{}` as one list.\n    pub fn {}{suffix}(&self) -> Vec<Value<'c, 'a>> {{ ({start}..{}).flat_map(|i| crate::accessors::{group}(&self.op, Self::spec(), i)).collect() }}",
                        len - 1,
                        ident(&base),
                        start + len
                    ),
                    Logical::Slot(i) => {
                        let slot = &slots[i];
                        let name = format!("{}{suffix}", ident(&slot.name));
                        match slot.arity {
                            Arity::Single => writeln!(out, "    /// {kind} `{}`.\n    pub fn {name}(&self) -> Value<'c, 'a> {{ crate::accessors::{group}(&self.op, Self::spec(), {i})[0] }}", slot.name),
                            Arity::Optional => writeln!(out, "    /// Optional {kind} `{}`.\n    pub fn {name}(&self) -> Option<Value<'c, 'a>> {{ crate::accessors::{group}(&self.op, Self::spec(), {i}).first().copied() }}", slot.name),
                            Arity::Variadic => writeln!(out, "    /// Variadic {kind} `{}`.\n    pub fn {name}(&self) -> Vec<Value<'c, 'a>> {{ crate::accessors::{group}(&self.op, Self::spec(), {i}) }}", slot.name),
                        }
                    }
                }
                .unwrap();
            }
        }
        for (name, base) in &op.attributes {
            let (ret, _) = rust_attr_type(base);
            let getter = match base.as_str() {
                "#builtin.dense_array" => "i64_array",
                "#builtin.integer" => "integer",
                "#builtin.float" => "float",
                "#builtin.string" => "string",
                _ => "attribute",
            };
            writeln!(out, "    /// Attribute `{name}`.\n    pub fn {}(&self) -> {ret} {{ crate::accessors::{getter}(&self.op, {name:?}) }}", ident(name)).unwrap();
        }
        // Builder: operands, result types and attributes in declaration order.
        let mut params = vec!["location: Location<'c>".to_string()];
        let mut checks = Vec::new();
        let operand_exprs = builder_groups(&op.operands, &full, "Value<'c, '_>", ident, &mut params, &mut checks);
        let result_exprs = builder_groups(
            &op.results,
            &full,
            "Type<'c>",
            |name| format!("{name}_type"),
            &mut params,
            &mut checks,
        );
        let mut attr_exprs = Vec::new();
        for (name, base) in &op.attributes {
            let (_, param) = rust_attr_type(base);
            let id = ident(name);
            params.push(format!("{id}: {param}"));
            let make = match base.as_str() {
                "#builtin.dense_array" => format!("AttrValue::I64Array({id}.to_vec())"),
                "#builtin.integer" => format!("AttrValue::Integer({id})"),
                "#builtin.float" => format!("AttrValue::Float({id})"),
                "#builtin.string" => format!("AttrValue::String({id}.to_string())"),
                _ => format!("AttrValue::Attribute({id})"),
            };
            attr_exprs.push(format!("({name:?}, {make})"));
        }
        writeln!(
            out,
            "    /// Builds a detached `{full}`. Segment sizes are added when the op has several"
        )
        .unwrap();
        writeln!(
            out,
            "    /// optional or variadic groups. The result is not verified: run the verifier."
        )
        .unwrap();
        writeln!(out, "    #[allow(clippy::too_many_arguments, unused_variables)]").unwrap();
        writeln!(
            out,
            "    pub fn build({}) -> Result<Operation<'c>, BuildError> {{",
            params.join(", ")
        )
        .unwrap();
        for check in &checks {
            writeln!(out, "        {check}").unwrap();
        }
        writeln!(
            out,
            "        let operand_groups: Vec<Vec<Value<'c, '_>>> = vec![{}];",
            operand_exprs.join(", ")
        )
        .unwrap();
        writeln!(
            out,
            "        let result_groups: Vec<Vec<Type<'c>>> = vec![{}];",
            result_exprs.join(", ")
        )
        .unwrap();
        writeln!(
            out,
            "        let attributes: Vec<(&str, AttrValue<'c>)> = vec![{}];",
            attr_exprs.join(", ")
        )
        .unwrap();
        writeln!(out, "        crate::accessors::build_op(location, Self::spec(), operand_groups, result_groups, attributes).map_err(BuildError::from)").unwrap();
        writeln!(out, "    }}").unwrap();
        writeln!(out, "}}").unwrap();
    }
}

fn main() {
    let manifest = env::var("CARGO_MANIFEST_DIR").unwrap();
    let out_dir = env::var("OUT_DIR").unwrap();
    let mut specs = String::new();
    let mut graph_ops = Vec::new();
    for dialect in DIALECTS {
        let path = Path::new(&manifest).join("irdl").join(format!("{dialect}.mlir"));
        println!("cargo:rerun-if-changed={}", path.display());
        let text = fs::read_to_string(&path).expect("read IRDL file");
        let ops = parse_dialect(&text, &format!("irdl/{dialect}.mlir"));
        gen_specs(&mut specs, dialect, &ops);
        if dialect == "graph" {
            graph_ops = ops;
        }
    }
    fs::write(Path::new(&out_dir).join("op_specs.rs"), specs).unwrap();
    let mut wrappers = String::new();
    gen_graph_wrappers(&mut wrappers, &graph_ops);
    fs::write(Path::new(&out_dir).join("graph_ops.rs"), wrappers).unwrap();
}
