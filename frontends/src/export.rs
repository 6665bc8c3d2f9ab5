//! The graph dialect back to the neutral graph, and so to ONNX (`onnx::model_bytes`): the
//! inverse of the importer, for `fuser quantize -o OUT.onnx`.
//!
//! Graph ops are ONNX ops in normalized form (every attribute explicit, attributes that
//! later opsets made inputs as operands), so each maps to one node of its ONNX op at a
//! recent opset: the op type is the one its IRDL doc names, and the operands and
//! attributes keep their order and names. `graph.constant` and `graph.weight` become
//! initializers. The quantization ops are written in QDQ form, the form onnxruntime's
//! `quantize_static` writes and that fuser imports:
//! - `ftensor.quantize` / `ftensor.dequantize` are QuantizeLinear / DequantizeLinear;
//! - `ftensor.quantized_conv` is Conv(DQ(Q(x)), DQ(w, per output channel), b) and
//!   `ftensor.quantized_mat_mul` is MatMul(DQ(Q(a)), DQ(b, per column)), the exact
//!   definitions of the two ops (the f32 bias stays f32);
//! - `ftensor.relayout` is a Transpose;
//! - a `graph.where` on booleans is And/Not/Or (ONNX's Where takes booleans, but
//!   onnxruntime's CPU kernel does not, and onnxruntime is what the export is for).
//!
//! Ops that ONNX cannot spell (a Resize given both scales and sizes, as the importer
//! resolves keep_aspect_ratio_policy) are refused with [`NO_ONNX_FORM`] and the node.

use crate::model::{AttrValue, Graph, Initializer, Node, ValueDecl};
use fuser_dialects::{
    accessors::{graph_name, is_entry_function, op_name, operand_group, result_group, symbol_name},
    constants::tensor_bytes,
    eval::op_attrs,
    ffi::{dense_to_tensor, nested_operations, string_value, tensor_info, value_key},
    semantics::{Attr, DType, Tensor},
    spec::{Arity, OpSpec, SlotSpec, find_op},
};
use melior::ir::{
    BlockLike, OperationRef, RegionLike, Value, ValueLike,
    attribute::StringAttribute,
    operation::{OperationLike, OperationResult},
};
use std::collections::{HashMap, HashSet};

/// How an export refusal starts: the graph holds an op that ONNX cannot spell.
pub const NO_ONNX_FORM: &str = "no ONNX form";

/// The default-domain opset the export is written at: the newest that onnxruntime runs
/// every op of, unless the graph uses an op from a later one.
const EXPORT_OPSET: i64 = 21;

/// The ONNX op type of a graph op: the name its IRDL doc gives (`// ONNX \`Conv\`.`).
fn onnx_op_type(spec: &OpSpec) -> Option<&'static str> {
    let start = spec.doc.find("ONNX `")? + "ONNX `".len();
    let len = spec.doc[start..].find('`')?;
    Some(&spec.doc[start..start + len])
}

/// The opset an exported graph op needs, when later than [`EXPORT_OPSET`]: the op's own,
/// or that of the element type or attribute value it is used with.
fn needed_opset(op_type: &str, op: &OperationRef, attrs: &[(String, AttrValue)]) -> i64 {
    let operand_dtype = || {
        op.operand(0)
            .ok()
            .and_then(|v| tensor_info(v.r#type()))
            .and_then(|i| DType::from_mlir(&i.element))
    };
    let has = |name: &str, value: AttrValue| attrs.iter().any(|(k, v)| k == name && *v == value);
    match op_type {
        "RMSNormalization" => 23,
        "Range" if matches!(operand_dtype(), Some(DType::F16 | DType::BF16)) => 27,
        // A floor modulo of floats (fmod = 0) came with opset 28.
        "Mod" if operand_dtype().is_some_and(DType::is_float) && has("fmod", AttrValue::Int(0)) => 28,
        // So did SpaceToDepth's mode (left out when it is the earlier fixed order, DCR).
        "SpaceToDepth" if attrs.iter().any(|(k, _)| k == "mode") => 28,
        _ => EXPORT_OPSET,
    }
}

/// The ONNX attribute name of a graph attribute (graph attributes are snake_case).
fn onnx_attribute_name(op_type: &str, name: String) -> String {
    match (op_type, name.as_str()) {
        ("Gemm", "trans_a") => "transA".into(),
        ("Gemm", "trans_b") => "transB".into(),
        _ => name,
    }
}

fn attr_value(attr: Attr) -> AttrValue {
    match attr {
        Attr::Int(v) => AttrValue::Int(v),
        Attr::Float(v) => AttrValue::Float(v as f32),
        Attr::Ints(v) => AttrValue::Ints(v),
        Attr::Str(v) => AttrValue::Str(v),
        Attr::Tensor(t) => AttrValue::Tensor(t),
    }
}

/// The node name an op came from (its name location), if it has one.
fn location_name(op: &OperationRef) -> Option<String> {
    fuser_dialects::ffi::location_name(op.location())
}

/// The ONNX names of an op's values, slot by slot: an absent optional is an empty name
/// (trailing ones dropped), an absent member of a family is left out.
fn slot_names<'c, 'a>(
    slots: &[SlotSpec],
    group: impl Fn(usize) -> Vec<Value<'c, 'a>>,
    mut name: impl FnMut(Value<'c, 'a>) -> Result<String, String>,
) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for (i, slot) in slots.iter().enumerate() {
        let values = group(i);
        if values.is_empty() && slot.arity == Arity::Optional && !is_family_member(slot.name) {
            names.push(String::new());
        }
        for value in values {
            names.push(name(value)?);
        }
    }
    while names.last().is_some_and(String::is_empty) {
        names.pop();
    }
    Ok(names)
}

/// Whether a slot is one of a family (`inputs_0` .. `inputs_15`): an absent member is
/// left out, not written as an empty name.
fn is_family_member(name: &str) -> bool {
    name.rsplit_once('_')
        .is_some_and(|(_, index)| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
}

struct Exporter<'w> {
    weights: &'w [Initializer],
    graph: Graph,
    /// The ONNX name of each value, by `value_key`.
    names: HashMap<usize, String>,
    used_names: HashSet<String>,
    used_node_names: HashSet<String>,
    written_weights: HashSet<String>,
}

impl Exporter<'_> {
    /// A name not used yet, from `base`.
    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1;
        while !self.used_names.insert(name.clone()) {
            k += 1;
            name = format!("{base}_{k}");
        }
        name
    }

    /// A node name no node has yet, from `base` (taken when the node is pushed).
    fn fresh_node_name(&self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1;
        while self.used_node_names.contains(&name) {
            k += 1;
            name = format!("{base}/{k}");
        }
        name
    }

    /// The name of the node written for `op`: its imported node name, else
    /// `<op type>_<index>` (made unique either way).
    fn node_name(&mut self, op: &OperationRef, op_type: &str) -> String {
        let base = location_name(op).unwrap_or_else(|| format!("{op_type}_{}", self.graph.nodes.len()));
        self.fresh_node_name(&base)
    }

    fn name_of(&self, value: Value) -> Result<String, String> {
        self.names
            .get(&value_key(value))
            .cloned()
            .ok_or_else(|| "an operand is defined outside the function".to_string())
    }

    /// Names the results of `op`; `preferred` gives the names of values the function returns.
    fn name_results(&mut self, op: &OperationRef, preferred: &HashMap<usize, String>) -> Vec<String> {
        (0..op.result_count())
            .map(|i| {
                let value: Value = op.result(i).expect("index below result_count").into();
                let key = value_key(value);
                let name = match preferred.get(&key) {
                    Some(n) => n.clone(),
                    None => self.fresh(&format!("v{}", self.names.len())),
                };
                self.names.insert(key, name.clone());
                name
            })
            .collect()
    }

    /// Writes a node; `name` is made unique if a node has it already.
    fn push(
        &mut self,
        name: String,
        op_type: &str,
        inputs: Vec<String>,
        outputs: Vec<String>,
        attrs: Vec<(String, AttrValue)>,
    ) {
        let name = self.fresh_node_name(&name);
        self.used_node_names.insert(name.clone());
        self.graph.nodes.push(Node {
            name,
            op_type: op_type.to_string(),
            domain: String::new(),
            inputs,
            outputs,
            attrs: attrs.into_iter().collect(),
        });
    }

    fn initializer(&mut self, base: &str, tensor: &Tensor) -> String {
        let name = self.fresh(base);
        self.graph.initializers.push(Initializer {
            name: name.clone(),
            dtype: tensor.dtype,
            shape: tensor.shape().to_vec(),
            bytes: tensor_bytes(tensor),
        });
        name
    }

    fn op(&mut self, op: OperationRef, preferred: &HashMap<usize, String>) -> Result<(), String> {
        let name = op_name(&op);
        match name.as_str() {
            "graph.constant" => {
                let tensor = op
                    .attribute("value")
                    .ok()
                    .and_then(dense_to_tensor)
                    .ok_or("a constant whose value is not dense elements")?;
                let base = location_name(&op).map_or_else(|| "const".to_string(), |n| format!("{n}/value"));
                let initializer = self.initializer(&base, &tensor);
                let value: Value = op.result(0).map_err(|e| e.to_string())?.into();
                self.names.insert(value_key(value), initializer);
                Ok(())
            }
            "graph.weight" => {
                let weight_name = op
                    .attribute("name")
                    .ok()
                    .and_then(|a| StringAttribute::try_from(a).ok())
                    .map(string_value)
                    .ok_or("a weight without a name")?;
                let weight = self
                    .weights
                    .iter()
                    .find(|w| w.name == weight_name)
                    .ok_or_else(|| format!("weight '{weight_name}' has no data"))?;
                // Its name was reserved before any other value was named.
                if self.written_weights.insert(weight_name.clone()) {
                    self.graph.initializers.push(weight.clone());
                }
                let value: Value = op.result(0).map_err(|e| e.to_string())?.into();
                self.names.insert(value_key(value), weight_name);
                Ok(())
            }
            "ftensor.quantize" | "ftensor.dequantize" => {
                let op_type = if name == "ftensor.quantize" {
                    "QuantizeLinear"
                } else {
                    "DequantizeLinear"
                };
                let inputs = (0..3)
                    .map(|i| self.name_of(op.operand(i).map_err(|e| e.to_string())?))
                    .collect::<Result<Vec<_>, _>>()?;
                let axis = op_attrs(&op)
                    .map_err(|e| e.to_string())?
                    .int("axis")
                    .map_err(|e| e.to_string())?;
                let outputs = self.name_results(&op, preferred);
                let node = self.node_name(&op, op_type);
                self.push(
                    node,
                    op_type,
                    inputs,
                    outputs,
                    vec![("axis".into(), AttrValue::Int(axis))],
                );
                Ok(())
            }
            "graph.where" if Self::is_bool(op.result(0).map_err(|e| e.to_string())?.into()) => {
                self.bool_where(op, preferred)
            }
            "ftensor.quantized_conv" | "ftensor.quantized_mat_mul" => self.quantized_contraction(op, preferred),
            "ftensor.relayout" => {
                let attrs = op_attrs(&op).map_err(|e| e.to_string())?;
                let (src, dst) = (
                    attrs.string("src_layout").map_err(|e| e.to_string())?,
                    attrs.string("dst_layout").map_err(|e| e.to_string())?,
                );
                let perm = dst
                    .chars()
                    .map(|c| src.find(c).map(|p| p as i64))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| format!("relayout from {src} to {dst} is not a permutation"))?;
                let input = self.name_of(op.operand(0).map_err(|e| e.to_string())?)?;
                let outputs = self.name_results(&op, preferred);
                let node = self.node_name(&op, "Transpose");
                self.push(
                    node,
                    "Transpose",
                    vec![input],
                    outputs,
                    vec![("perm".into(), AttrValue::Ints(perm))],
                );
                Ok(())
            }
            _ => self.graph_op(op, &name, preferred),
        }
    }

    /// A graph op: one node of the ONNX op its doc names.
    fn graph_op(&mut self, op: OperationRef, name: &str, preferred: &HashMap<usize, String>) -> Result<(), String> {
        let spec = find_op(name)
            .filter(|s| s.dialect == "graph")
            .ok_or_else(|| format!("{NO_ONNX_FORM}: {name}"))?;
        let op_type = onnx_op_type(spec).ok_or_else(|| format!("{NO_ONNX_FORM}: {name}"))?;
        // The importer resolves a Resize's keep_aspect_ratio_policy into both scales
        // (for the coordinates) and sizes; ONNX takes one of them.
        if op_type == "Resize" && (2..4).all(|slot| !operand_group(&op, spec, slot).is_empty()) {
            return Err(format!("{NO_ONNX_FORM}: a Resize with both scales and sizes"));
        }
        let inputs = slot_names(spec.operands, |i| operand_group(&op, spec, i), |v| self.name_of(v))?;
        let mut attrs = Vec::new();
        for (attribute, value) in op_attrs(&op).map_err(|e| e.to_string())?.0 {
            // SpaceToDepth has a mode from opset 28 on; before, its order is DCR.
            if op_type == "SpaceToDepth" && attribute == "mode" && value == Attr::Str("DCR".into()) {
                continue;
            }
            let onnx_name = onnx_attribute_name(op_type, attribute);
            attrs.push((onnx_name, attr_value(value)));
        }
        let opset = needed_opset(op_type, &op, &attrs);
        self.graph.opset = self.graph.opset.max(opset);
        let results = self.name_results(&op, preferred);
        let outputs = slot_names(
            spec.results,
            |i| result_group(&op, spec, i),
            |v| Ok(self.names[&value_key(v)].clone()),
        )?;
        debug_assert_eq!(outputs.iter().filter(|o| !o.is_empty()).count(), results.len());
        let node = self.node_name(&op, op_type);
        self.push(node, op_type, inputs, outputs, attrs);
        Ok(())
    }

    fn is_bool(value: Value) -> bool {
        tensor_info(value.r#type()).is_some_and(|i| i.element == "i1")
    }

    /// `where(c, a, b)` on booleans, which onnxruntime's Where kernel does not take: (c
    /// and a) or (not c and b).
    fn bool_where(&mut self, op: OperationRef, preferred: &HashMap<usize, String>) -> Result<(), String> {
        let [c, a, b] = [0, 1, 2].map(|i| op.operand(i).map_err(|e| e.to_string()).and_then(|v| self.name_of(v)));
        let (c, a, b) = (c?, a?, b?);
        let node = self.node_name(&op, "Where");
        let temp = |exporter: &mut Self, what: &str| exporter.fresh(&format!("{node}/{what}"));
        let (when_true, not_c, when_false) = (temp(self, "and_true"), temp(self, "not"), temp(self, "and_false"));
        self.push(
            format!("{node}/and_true"),
            "And",
            vec![c.clone(), a],
            vec![when_true.clone()],
            vec![],
        );
        self.push(format!("{node}/not"), "Not", vec![c], vec![not_c.clone()], vec![]);
        self.push(
            format!("{node}/and_false"),
            "And",
            vec![not_c, b],
            vec![when_false.clone()],
            vec![],
        );
        let outputs = self.name_results(&op, preferred);
        self.push(node, "Or", vec![when_true, when_false], outputs, vec![]);
        Ok(())
    }

    /// A quantized conv or matmul in QDQ form: its activation quantized and dequantized,
    /// its int8 weights dequantized per output channel (per column for a matmul).
    fn quantized_contraction(&mut self, op: OperationRef, preferred: &HashMap<usize, String>) -> Result<(), String> {
        let is_conv = op_name(&op) == "ftensor.quantized_conv";
        let operand = |i: usize| op.operand(i).map_err(|e| e.to_string());
        let (x, w, w_scale, x_scale, x_zero_point) = (operand(0)?, operand(1)?, operand(2)?, operand(3)?, operand(4)?);
        let node = self.node_name(&op, if is_conv { "Conv" } else { "MatMul" });
        let x_scale = self.name_of(x_scale)?;
        let x_zero_point = self.name_of(x_zero_point)?;
        let x_name = self.name_of(x)?;
        let quantized = self.fresh(&format!("{node}/x_quantized"));
        self.push(
            format!("{node}/quantize_x"),
            "QuantizeLinear",
            vec![x_name, x_scale.clone(), x_zero_point.clone()],
            vec![quantized.clone()],
            vec![],
        );
        let dequantized = self.fresh(&format!("{node}/x_dequantized"));
        self.push(
            format!("{node}/dequantize_x"),
            "DequantizeLinear",
            vec![quantized, x_scale, x_zero_point],
            vec![dequantized.clone()],
            vec![],
        );
        // One scale for every channel (per-channel=false) is written as a scalar: ONNX
        // reads a 1-D scale as one per index of `axis`.
        let weight_rank = tensor_info(w.r#type()).ok_or("a weight of unknown rank")?.rank() as i64;
        let channels = tensor_info(w.r#type())
            .and_then(|i| i.shape[if is_conv { 0 } else { weight_rank as usize - 1 }])
            .ok_or("a weight of unknown shape")?;
        let w_scale_name = match fuser_dialects::constants::graph_constant_value(w_scale) {
            Some(scale) if scale.len() == 1 && channels != 1 => {
                let scalar = Tensor::full(scale.dtype, &[], scale.to_f64_vec()[0]);
                self.initializer(&format!("{node}/w_scale"), &scalar)
            }
            _ => self.name_of(w_scale)?,
        };
        let w_name = self.name_of(w)?;
        let weights = self.fresh(&format!("{node}/w_dequantized"));
        self.push(
            format!("{node}/dequantize_w"),
            "DequantizeLinear",
            vec![w_name, w_scale_name],
            vec![weights.clone()],
            vec![("axis".into(), AttrValue::Int(if is_conv { 0 } else { weight_rank - 1 }))],
        );
        let outputs = self.name_results(&op, preferred);
        if is_conv {
            let mut inputs = vec![dequantized, weights];
            if let Ok(bias) = op.operand(5) {
                inputs.push(self.name_of(bias)?);
            }
            let attrs = op_attrs(&op).map_err(|e| e.to_string())?;
            let attrs = attrs.0.into_iter().map(|(k, v)| (k, attr_value(v))).collect();
            self.push(node, "Conv", inputs, outputs, attrs);
        } else {
            self.push(node, "MatMul", vec![dequantized, weights], outputs, vec![]);
        }
        Ok(())
    }
}

fn value_decl(name: String, value: Value) -> Result<ValueDecl, String> {
    let info = tensor_info(value.r#type()).ok_or_else(|| format!("'{name}' is not a ranked tensor"))?;
    let dtype = DType::from_mlir(&info.element).ok_or_else(|| format!("'{name}' has element type {}", info.element))?;
    Ok(ValueDecl {
        name,
        dtype: Some(dtype),
        shape: Some(info.shape),
    })
}

/// The model function of `module` (its one public `func.func`) as a neutral graph at
/// opset 21 or later. `weights` holds the data of its `graph.weight` ops. An op without
/// an ONNX form is an error naming its node.
pub fn export_graph(module: OperationRef, weights: &[Initializer]) -> Result<Graph, String> {
    let functions: Vec<_> = nested_operations(module)
        .into_iter()
        .filter(|op| is_entry_function(op))
        .collect();
    let [function] = functions.as_slice() else {
        return Err(format!(
            "the module has {} public functions; ONNX export needs exactly one",
            functions.len()
        ));
    };
    let block = function
        .region(0)
        .ok()
        .and_then(|r| r.first_block())
        .ok_or("the model function has no body")?;
    let mut exporter = Exporter {
        weights,
        graph: Graph {
            name: symbol_name(function).unwrap_or_else(|| "model".into()),
            opset: EXPORT_OPSET,
            ..Graph::default()
        },
        names: HashMap::new(),
        used_names: HashSet::new(),
        used_node_names: HashSet::new(),
        written_weights: HashSet::new(),
    };
    // Weights keep their names: reserve them before any other value is named.
    for op in nested_operations(*function) {
        if op_name(&op) == "graph.weight"
            && let Some(name) = op
                .attribute("name")
                .ok()
                .and_then(|a| StringAttribute::try_from(a).ok())
                .map(string_value)
        {
            exporter.used_names.insert(name);
        }
    }
    let arg_attrs = function.attribute("arg_attrs").ok();
    for i in 0..block.argument_count() {
        let value: Value = block.argument(i).expect("index below argument_count").into();
        let name = exporter.fresh(&graph_name(arg_attrs, i, "input"));
        exporter.names.insert(value_key(value), name.clone());
        exporter.graph.inputs.push(value_decl(name, value)?);
    }
    let terminator = block.terminator().ok_or("the model function has no return")?;
    let result_attrs = function.attribute("res_attrs").ok();
    // A value the function returns takes its output's name, once; arguments,
    // initializers and values returned twice go through an Identity.
    let mut preferred = HashMap::new();
    let mut output_names = Vec::new();
    for i in 0..terminator.operand_count() {
        let value = terminator.operand(i).expect("index below operand_count");
        let name = exporter.fresh(&graph_name(result_attrs, i, "output"));
        let produced_by_node = OperationResult::try_from(value)
            .is_ok_and(|r| !matches!(op_name(&r.owner()).as_str(), "graph.constant" | "graph.weight"));
        if produced_by_node && !preferred.contains_key(&value_key(value)) {
            preferred.insert(value_key(value), name.clone());
            output_names.push((name, value, false));
        } else {
            output_names.push((name, value, true));
        }
    }
    let mut op = block.first_operation();
    while let Some(current) = op {
        if current.next_in_block().is_none() {
            break; // the terminator
        }
        exporter
            .op(current, &preferred)
            .map_err(|m| match location_name(&current) {
                Some(node) => format!("node '{node}': {m}"),
                None => format!("{}: {m}", op_name(&current)),
            })?;
        op = current.next_in_block();
    }
    for (name, value, through_identity) in output_names {
        if through_identity {
            let input = exporter.name_of(value)?;
            let node = format!("{name}/identity");
            exporter.push(node, "Identity", vec![input], vec![name.clone()], vec![]);
        }
        exporter.graph.outputs.push(value_decl(name, value)?);
    }
    Ok(exporter.graph)
}
