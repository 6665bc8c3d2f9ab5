//! The neutral graph to a verified graph-dialect module.
//!
//! Nodes are normalized one by one, in order. Each normalized node is typed with the graph
//! op's inference; when all its operands are constant and its result is small (or a
//! splat), it is evaluated instead and becomes a constant (so Shape-derived subgraphs
//! fold away). Constants and weights are materialized lazily, right before their first
//! use, so folded-away values leave nothing behind.

use crate::{
    error::ImportError,
    model::{Graph, Initializer},
    normalize::{Lookup, NormNode, Operand, normalize},
};
use fuser_dialects::{
    accessors::{AttrValue, build_op},
    constants::tensor_attribute,
    semantics::{self, Attr, Known, SemError, Tensor, TypeInfo},
    spec::find_op,
};
use melior::{
    Context,
    ir::{
        Attribute, Block, BlockLike, Identifier, Location, Module, Region, RegionLike, Type, Value, ValueLike,
        attribute::{StringAttribute, TypeAttribute},
        operation::{OperationBuilder, OperationLike},
        r#type::FunctionType,
    },
};
use std::collections::HashMap;

/// Import settings.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Fixed shapes for inputs, by name (`--shape NAME=1x3x224x224`).
    pub shapes: HashMap<String, Vec<i64>>,
    /// Results of at most this many elements are folded when their operands are constant.
    pub fold_limit: usize,
    /// Initializers of at most this many elements become `graph.constant`; larger ones
    /// become `graph.weight`.
    pub constant_limit: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            shapes: HashMap::new(),
            fold_limit: 1 << 16,
            constant_limit: 16,
        }
    }
}

/// The result of an import: the module and the weights its `graph.weight` ops name.
pub struct Imported<'c> {
    pub module: Module<'c>,
    pub weights: Vec<Initializer>,
    /// The function's name.
    pub function: String,
}

/// Where a value comes from. Constants and weights are materialized on first use.
enum Source<'c, 'b> {
    Value(Value<'c, 'b>, TypeInfo),
    Constant(Tensor),
    Weight(usize),
    /// Produced by a node that could not be imported (`fuser check` goes on past it).
    Unknown,
}

/// Escapes a string for an MLIR string literal.
pub fn mlir_string(s: &str) -> String {
    let mut out = String::from("\"");
    for byte in s.bytes() {
        match byte {
            b'"' | b'\\' => out.push_str(&format!("\\{:02X}", byte)),
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\{byte:02X}")),
        }
    }
    out.push('"');
    out
}

fn symbol_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if s.is_empty() {
        s = "main".into();
    } else if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

struct Emitter<'c, 'b> {
    context: &'c Context,
    block: &'b Block<'c>,
    file: &'b str,
    graph: &'b Graph,
    values: HashMap<String, Source<'c, 'b>>,
    /// Weights already materialized, by initializer index.
    used_weights: Vec<usize>,
    options: &'b ImportOptions,
    /// The node being emitted, for errors.
    node: (String, String),
}

struct View<'e, 'c, 'b>(&'e Emitter<'c, 'b>);

impl Lookup for View<'_, '_, '_> {
    fn info(&self, name: &str) -> Option<TypeInfo> {
        self.0.known(name).map(|k| k.info)
    }
    fn value(&self, name: &str) -> Option<Tensor> {
        self.0.known(name).and_then(|k| k.value)
    }
}

impl<'c, 'b> Emitter<'c, 'b> {
    fn error(&self, message: impl Into<String>) -> ImportError {
        ImportError::node(self.file, &self.node.0, &self.node.1, message)
    }

    fn known(&self, name: &str) -> Option<Known> {
        Some(match self.values.get(name)? {
            Source::Unknown => return None,
            Source::Value(_, info) => Known::of_type(info.clone()),
            Source::Constant(t) => Known::of(t),
            Source::Weight(i) => {
                let w = &self.graph.initializers[*i];
                let value = (w.len() <= self.options.fold_limit.min(4096))
                    .then(|| w.tensor())
                    .flatten();
                Known {
                    info: TypeInfo::fixed(w.dtype, &w.shape),
                    value,
                }
            }
        })
    }

    fn location(&self) -> Location<'c> {
        Location::name(self.context, &self.node.0, Location::new(self.context, self.file, 0, 0))
    }

    fn tensor_type(&self, info: &TypeInfo) -> Result<Type<'c>, ImportError> {
        Type::parse(self.context, &info.mlir())
            .ok_or_else(|| self.error(format!("invalid result type {}", info.mlir())))
    }

    fn constant(&mut self, tensor: &Tensor) -> Result<Value<'c, 'b>, ImportError> {
        let attribute = tensor_attribute(self.context, tensor).ok_or_else(|| self.error("cannot encode a constant"))?;
        let info = TypeInfo::fixed(tensor.dtype, tensor.shape());
        let op = OperationBuilder::new("graph.constant", self.location())
            .add_attributes(&[(Identifier::new(self.context, "value"), attribute)])
            .add_results(&[self.tensor_type(&info)?])
            .build()
            .map_err(|e| self.error(e.to_string()))?;
        Ok(self.block.append_operation(op).result(0).expect("one result").into())
    }

    /// The MLIR value of a graph value, materializing constants and weights.
    fn materialize(&mut self, name: &str) -> Result<Value<'c, 'b>, ImportError> {
        let source = self.values.get(name).ok_or_else(|| {
            self.error(format!(
                "input '{name}' is not produced by any node, input or initializer"
            ))
        })?;
        let value = match source {
            Source::Value(v, _) => return Ok(*v),
            Source::Unknown => {
                return Err(self.error(format!("input '{name}' comes from a node that was not imported")));
            }
            Source::Constant(t) => {
                let t = t.clone();
                self.constant(&t)?
            }
            Source::Weight(i) => {
                let i = *i;
                let w = &self.graph.initializers[i];
                let info = TypeInfo::fixed(w.dtype, &w.shape);
                let op = OperationBuilder::new("graph.weight", self.location())
                    .add_attributes(&[(
                        Identifier::new(self.context, "name"),
                        StringAttribute::new(self.context, &w.name).into(),
                    )])
                    .add_results(&[self.tensor_type(&info)?])
                    .build()
                    .map_err(|e| self.error(e.to_string()))?;
                self.used_weights.push(i);
                self.block.append_operation(op).result(0).expect("one result").into()
            }
        };
        let info = self.known(name).expect("present").info;
        self.values.insert(name.to_string(), Source::Value(value, info));
        Ok(value)
    }

    fn operand_value(&mut self, operand: &Operand) -> Result<Value<'c, 'b>, ImportError> {
        match operand {
            Operand::Value(name) => self.materialize(name),
            Operand::Const(t) => self.constant(t),
        }
    }

    fn operand_known(&self, operand: &Operand) -> Result<Known, ImportError> {
        match operand {
            Operand::Value(name) => self.known(name).ok_or_else(|| {
                self.error(format!(
                    "input '{name}' is not produced by any node, input or initializer"
                ))
            }),
            Operand::Const(t) => Ok(Known::of(t)),
        }
    }

    fn attr_value(&self, attr: &Attr) -> Result<AttrValue<'c>, ImportError> {
        Ok(match attr {
            Attr::Int(v) => AttrValue::Integer(*v),
            Attr::Float(v) => AttrValue::Float(*v),
            Attr::Ints(v) => AttrValue::I64Array(v.clone()),
            Attr::Str(v) => AttrValue::String(v.clone()),
            Attr::Tensor(t) => AttrValue::Attribute(
                tensor_attribute(self.context, t).ok_or_else(|| self.error("cannot encode a tensor attribute"))?,
            ),
        })
    }

    fn emit(&mut self, n: &NormNode) -> Result<(), ImportError> {
        let knowns: Vec<Option<Known>> = n
            .inputs
            .iter()
            .map(|o| o.as_ref().map(|o| self.operand_known(o)).transpose())
            .collect::<Result<_, _>>()?;
        let map_sem = |e: SemError, this: &Self| match e {
            SemError::Unsupported(m) => this.error(m).unsupported(),
            SemError::Invalid(m) => this.error(m),
        };
        if n.op == "constant" {
            let value = n.attrs.tensor("value").map_err(|e| map_sem(e, self))?.clone();
            if let Some(Some(out)) = n.outputs.first() {
                self.values.insert(out.clone(), Source::Constant(value));
            }
            return Ok(());
        }
        // Shape of a statically shaped value is a constant whatever the value: this is what
        // lets Shape-derived subgraphs (x.view(x.size(0), -1)) fold at import.
        if n.op == "shape"
            && let Some(Some(k)) = knowns.first()
            && let Some(shape) = k.info.static_shape()
        {
            let stand_in = Tensor::full(k.info.dtype, &shape, 0.0);
            let out = semantics::evaluate("shape", &n.attrs, &[Some(stand_in)]).map_err(|e| map_sem(e, self))?;
            if let Some(Some(name)) = n.outputs.first() {
                self.values.insert(name.clone(), Source::Constant(out[0].clone()));
            }
            return Ok(());
        }
        let infos = semantics::infer(n.op, &n.attrs, &knowns).map_err(|e| map_sem(e, self))?;
        // Fold when every operand is constant and the results are small.
        let all_constant = knowns.iter().all(|k| k.as_ref().is_none_or(|k| k.value.is_some()));
        let small = infos.iter().all(|i| {
            i.static_shape()
                .is_some_and(|s| s.iter().product::<usize>() <= self.options.fold_limit)
        });
        if all_constant && (small || n.op == "constant_of_shape") {
            let values: Vec<Option<Tensor>> = knowns
                .iter()
                .map(|k| k.as_ref().and_then(|k| k.value.clone()))
                .collect();
            if let Ok(outputs) = semantics::evaluate(n.op, &n.attrs, &values) {
                for (slot, out) in n.outputs.iter().enumerate() {
                    if let (Some(name), Some(t)) = (out, outputs.get(slot)) {
                        self.values.insert(name.clone(), Source::Constant(t.clone()));
                    }
                }
                return Ok(());
            }
        }
        // Graph ops are named without their prefix; the ftensor quantization ops with it.
        let full_name = if n.op.contains('.') {
            n.op.to_string()
        } else {
            format!("graph.{}", n.op)
        };
        let spec = find_op(&full_name).ok_or_else(|| self.error(format!("no graph op '{}'", n.op)))?;
        let mut operand_groups = Vec::new();
        for input in &n.inputs {
            operand_groups.push(match input {
                Some(o) => vec![self.operand_value(o)?],
                None => vec![],
            });
        }
        let mut result_groups = Vec::new();
        for (slot, out) in n.outputs.iter().enumerate() {
            let required = spec
                .results
                .get(slot)
                .is_some_and(|s| s.arity == fuser_dialects::spec::Arity::Single);
            let present = out.is_some() || required;
            let info = infos.get(slot);
            result_groups.push(match (present, info) {
                (true, Some(info)) => vec![self.tensor_type(info)?],
                (true, None) => return Err(self.error(format!("graph.{} has no result #{slot}", n.op))),
                (false, _) => vec![],
            });
        }
        let attributes: Vec<(&str, AttrValue)> = n
            .attrs
            .0
            .iter()
            .map(|(k, v)| Ok((k.as_str(), self.attr_value(v)?)))
            .collect::<Result<_, ImportError>>()?;
        let op = build_op(self.location(), spec, operand_groups, result_groups.clone(), attributes)
            .map_err(|e| self.error(e.to_string()))?;
        let op = self.block.append_operation(op);
        let mut result_index = 0;
        for (slot, group) in result_groups.iter().enumerate() {
            if group.is_empty() {
                continue;
            }
            let value: Value = op.result(result_index).expect("built with this result").into();
            result_index += 1;
            if let Some(Some(name)) = n.outputs.get(slot) {
                self.values
                    .insert(name.clone(), Source::Value(value, infos[slot].clone()));
            }
        }
        Ok(())
    }
}

/// The arguments' or results' `graph.name` attributes.
fn name_attrs<'c>(context: &'c Context, names: &[&str]) -> Attribute<'c> {
    let dicts: Vec<String> = names
        .iter()
        .map(|n| format!("{{graph.name = {}}}", mlir_string(n)))
        .collect();
    Attribute::parse(context, &format!("[{}]", dicts.join(", "))).expect("name attributes parse")
}

/// Imports `graph` into a new module in `context`.
pub fn import_graph<'c>(
    context: &'c Context,
    graph: &Graph,
    file: &str,
    options: &ImportOptions,
) -> Result<Imported<'c>, ImportError> {
    emit_graph(context, graph, file, options, false).map(|(imported, _)| imported)
}

/// Imports as far as possible, collecting every node that cannot be imported instead of
/// stopping at the first (nodes that depend on one are skipped silently). The module is
/// partial when problems are returned.
pub fn check_graph<'c>(
    context: &'c Context,
    graph: &Graph,
    file: &str,
    options: &ImportOptions,
) -> Result<(Imported<'c>, Vec<ImportError>), ImportError> {
    emit_graph(context, graph, file, options, true)
}

fn emit_graph<'c>(
    context: &'c Context,
    graph: &Graph,
    file: &str,
    options: &ImportOptions,
    keep_going: bool,
) -> Result<(Imported<'c>, Vec<ImportError>), ImportError> {
    let mut input_infos = Vec::new();
    for input in &graph.inputs {
        let dtype = input
            .dtype
            .ok_or_else(|| ImportError::file(file, format!("input '{}' has no element type", input.name)))?;
        let shape = match (options.shapes.get(&input.name), &input.shape) {
            (Some(fixed), declared) => {
                if let Some(d) = declared
                    && (d.len() != fixed.len() || d.iter().zip(fixed).any(|(a, b)| a.is_some_and(|a| a != *b)))
                {
                    return Err(ImportError::file(
                        file,
                        format!("--shape {}={fixed:?} contradicts the declared shape", input.name),
                    ));
                }
                fixed.iter().map(|&d| Some(d)).collect()
            }
            (None, Some(d)) => d.clone(),
            (None, None) => {
                return Err(ImportError::file(
                    file,
                    format!("input '{}' has no shape; give one with --shape", input.name),
                )
                .unsupported());
            }
        };
        input_infos.push(TypeInfo::new(dtype, shape));
    }
    for name in options.shapes.keys() {
        if !graph.inputs.iter().any(|i| &i.name == name) {
            return Err(ImportError::file(
                file,
                format!("--shape names '{name}', which is not a graph input"),
            ));
        }
    }
    let location = Location::new(context, file, 0, 0);
    let arg_types: Vec<Type> = input_infos
        .iter()
        .zip(&graph.inputs)
        .map(|(i, input)| {
            Type::parse(context, &i.mlir()).ok_or_else(|| {
                ImportError::file(file, format!("input '{}' has an invalid type {}", input.name, i.mlir()))
            })
        })
        .collect::<Result<_, _>>()?;
    let block = Block::new(&arg_types.iter().map(|t| (*t, location)).collect::<Vec<_>>());
    let mut emitter = Emitter {
        context,
        block: &block,
        file,
        graph,
        values: HashMap::new(),
        used_weights: Vec::new(),
        options,
        node: (String::new(), String::new()),
    };
    for (i, input) in graph.inputs.iter().enumerate() {
        emitter.values.insert(
            input.name.clone(),
            Source::Value(block.argument(i).expect("argument").into(), input_infos[i].clone()),
        );
    }
    for (i, w) in graph.initializers.iter().enumerate() {
        let source = if w.len() <= options.constant_limit {
            Source::Constant(
                w.tensor()
                    .ok_or_else(|| ImportError::file(file, format!("initializer '{}' is inconsistent", w.name)))?,
            )
        } else {
            Source::Weight(i)
        };
        emitter.values.insert(w.name.clone(), source);
    }
    let mut problems = Vec::new();
    for node in &graph.nodes {
        emitter.node = (node.name.clone(), node.op_type.clone());
        if keep_going
            && node
                .inputs
                .iter()
                .any(|i| matches!(emitter.values.get(i), Some(Source::Unknown)))
        {
            for o in &node.outputs {
                emitter.values.insert(o.clone(), Source::Unknown);
            }
            continue;
        }
        let result = normalize(node, graph.opset, &View(&emitter))
            .map_err(|e| {
                let err = emitter.error(e.message);
                if e.unsupported { err.unsupported() } else { err }
            })
            .and_then(|normalized| normalized.iter().try_for_each(|n| emitter.emit(n)));
        match result {
            Ok(()) => {}
            Err(e) if keep_going => {
                problems.push(e);
                for o in &node.outputs {
                    emitter.values.insert(o.clone(), Source::Unknown);
                }
            }
            Err(e) => return Err(e),
        }
    }
    emitter.node = (String::new(), String::new());
    let mut results = Vec::new();
    let mut result_types = Vec::new();
    let mut output_names: Vec<&str> = Vec::new();
    for output in &graph.outputs {
        if keep_going && matches!(emitter.values.get(&output.name), Some(Source::Unknown)) {
            continue;
        }
        output_names.push(&output.name);
        let value = emitter
            .materialize(&output.name)
            .map_err(|_| ImportError::file(file, format!("output '{}' is not produced by any node", output.name)))?;
        result_types.push(value.r#type());
        results.push(value);
    }
    block.append_operation(
        OperationBuilder::new("func.return", location)
            .add_operands(&results)
            .build()
            .map_err(|e| ImportError::file(file, e.to_string()))?,
    );
    let used: Vec<Initializer> = {
        let mut idx = emitter.used_weights.clone();
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter().map(|i| graph.initializers[i].clone()).collect()
    };
    drop(emitter);
    let region = Region::new();
    region.append_block(block);
    let function_name = symbol_name(&graph.name);
    let input_names: Vec<&str> = graph.inputs.iter().map(|i| i.name.as_str()).collect();
    let function = OperationBuilder::new("func.func", location)
        .add_attributes(&[
            (
                Identifier::new(context, "sym_name"),
                StringAttribute::new(context, &function_name).into(),
            ),
            (
                Identifier::new(context, "function_type"),
                TypeAttribute::new(FunctionType::new(context, &arg_types, &result_types).into()).into(),
            ),
            (Identifier::new(context, "arg_attrs"), name_attrs(context, &input_names)),
            (
                Identifier::new(context, "res_attrs"),
                name_attrs(context, &output_names),
            ),
        ])
        .add_regions([region])
        .build()
        .map_err(|e| ImportError::file(file, e.to_string()))?;
    let module = Module::new(location);
    module.body().append_operation(function);
    if problems.is_empty() {
        // A module that fails to verify means inference let something through that the
        // verifier rejects: report the verifier's first error against its node, on one line.
        let first: std::rc::Rc<std::cell::RefCell<Option<(String, String)>>> = Default::default();
        let sink = first.clone();
        let handler = context.attach_diagnostic_handler(move |d| {
            if sink.borrow().is_none() {
                let location = d.location();
                let node = if location.is_name() {
                    location
                        .name_value()
                        .as_string_ref()
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                } else {
                    String::new()
                };
                *sink.borrow_mut() = Some((node, d.to_string()));
            }
            true
        });
        let ok = module.as_operation().verify() && fuser_dialects::verify_fuser_ops(module.as_operation());
        context.detach_diagnostic_handler(handler);
        if !ok {
            let (node, message) = first.borrow().clone().unwrap_or_default();
            let op = graph
                .nodes
                .iter()
                .find(|n| n.name == node)
                .map(|n| n.op_type.clone())
                .unwrap_or_default();
            return Err(if node.is_empty() {
                ImportError::file(file, message)
            } else {
                ImportError::node(file, &node, &op, message)
            });
        }
    }
    Ok((
        Imported {
            module,
            weights: used,
            function: function_name,
        },
        problems,
    ))
}
