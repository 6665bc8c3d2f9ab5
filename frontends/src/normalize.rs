//! ONNX nodes, at any opset from 6 on, to one graph-op form.
//!
//! Each supported ONNX op maps to a graph op with its full attribute set (defaults made
//! explicit for the node's opset). Attributes that later opsets turned into inputs become
//! constant operands; attributes that only choose a convention are resolved (`auto_pad`
//! to `pads`, ConvTranspose's `output_shape` to `pads`, Split's `num_outputs` to sizes,
//! Upsample to Resize). Anything else is an error naming the attribute or op.

use crate::model::{AttrValue, Node};

#[path = "normalize_quantized.rs"]
mod quantized;
use fuser_dialects::semantics::{Attr, Attrs, DType, Tensor, TypeInfo};
use std::collections::BTreeSet;

/// An operand of a normalized node.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// A value of the graph, by name.
    Value(String),
    /// A constant made from an attribute.
    Const(Tensor),
}

/// A node in graph-op form. `inputs` and `outputs` are per IRDL slot; `None` is absent.
#[derive(Clone, Debug, PartialEq)]
pub struct NormNode {
    pub op: &'static str,
    pub attrs: Attrs,
    pub inputs: Vec<Option<Operand>>,
    pub outputs: Vec<Option<String>>,
}

/// Why a node could not be normalized.
#[derive(Clone, Debug, PartialEq)]
pub struct NormError {
    pub message: String,
    pub unsupported: bool,
}

fn unsupported<T>(message: impl Into<String>) -> Result<T, NormError> {
    Err(NormError {
        message: message.into(),
        unsupported: true,
    })
}

fn malformed<T>(message: impl Into<String>) -> Result<T, NormError> {
    Err(NormError {
        message: message.into(),
        unsupported: false,
    })
}

/// The slot count of a family (`inputs_0` .. `inputs_15`).
pub const FAMILY: usize = 16;

/// The ONNX ops (default domain) the normalizer accepts.
pub const SUPPORTED_OPS: &[&str] = &[
    "Abs",
    "Add",
    "And",
    "ArgMax",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "CastLike",
    "Ceil",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "ConvTranspose",
    "Cos",
    "CumSum",
    "DepthToSpace",
    "Div",
    "Dropout",
    "Einsum",
    "Elu",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Floor",
    "Gather",
    "GatherElements",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Greater",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "InstanceNormalization",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "Log",
    "LogSoftmax",
    "LRN",
    "MatMul",
    "Max",
    "MaxPool",
    "Mean",
    "Min",
    "Mod",
    "Mul",
    "Neg",
    "Not",
    "Or",
    "Pad",
    "Pow",
    "PRelu",
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
    "QuantizeLinear",
    "DequantizeLinear",
    "Range",
    "Reciprocal",
    "ReduceL2",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Resize",
    "RMSNormalization",
    "ScatterND",
    "Selu",
    "Shape",
    "Sigmoid",
    "Sign",
    "Sin",
    "Slice",
    "Softmax",
    "Softplus",
    "Softsign",
    "SpaceToDepth",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Tanh",
    "Tile",
    "TopK",
    "Transpose",
    "Trilu",
    "Unsqueeze",
    "Upsample",
    "Where",
];

/// ONNX attributes of one node, with the set an op accepts.
struct OnnxAttrs<'n> {
    node: &'n Node,
}

impl<'n> OnnxAttrs<'n> {
    /// Rejects attributes outside `allowed`.
    fn new(node: &'n Node, allowed: &[&str]) -> Result<Self, NormError> {
        for name in node.attrs.keys() {
            if !allowed.contains(&name.as_str()) {
                return unsupported(format!("attribute '{name}' is not supported"));
            }
        }
        Ok(OnnxAttrs { node })
    }
    fn get(&self, name: &str) -> Option<&'n AttrValue> {
        self.node.attrs.get(name)
    }
    fn int(&self, name: &str, default: i64) -> Result<i64, NormError> {
        match self.get(name) {
            None => Ok(default),
            Some(AttrValue::Int(v)) => Ok(*v),
            Some(_) => malformed(format!("attribute '{name}' must be an int")),
        }
    }
    fn float(&self, name: &str, default: f32) -> Result<f64, NormError> {
        match self.get(name) {
            None => Ok(default as f64),
            Some(AttrValue::Float(v)) => Ok(*v as f64),
            // JSON graphs may write a float attribute as an integer (`"alpha": 1`).
            Some(AttrValue::Int(v)) => Ok(*v as f64),
            Some(_) => malformed(format!("attribute '{name}' must be a float")),
        }
    }
    fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, NormError> {
        match self.get(name) {
            None => Ok(None),
            Some(AttrValue::Ints(v)) => Ok(Some(v.clone())),
            Some(_) => malformed(format!("attribute '{name}' must be a list of ints")),
        }
    }
    fn floats(&self, name: &str) -> Result<Option<Vec<f32>>, NormError> {
        match self.get(name) {
            None => Ok(None),
            Some(AttrValue::Floats(v)) => Ok(Some(v.clone())),
            Some(AttrValue::Ints(v)) => Ok(Some(v.iter().map(|&x| x as f32).collect())),
            Some(_) => malformed(format!("attribute '{name}' must be a list of floats")),
        }
    }
    fn string(&self, name: &str, default: &str) -> Result<String, NormError> {
        match self.get(name) {
            None => Ok(default.to_string()),
            Some(AttrValue::Str(v)) => Ok(v.clone()),
            Some(_) => malformed(format!("attribute '{name}' must be a string")),
        }
    }
    fn required_int(&self, name: &str) -> Result<i64, NormError> {
        match self.get(name) {
            Some(AttrValue::Int(v)) => Ok(*v),
            Some(_) => malformed(format!("attribute '{name}' must be an int")),
            None => malformed(format!("attribute '{name}' is required")),
        }
    }
}

/// What the normalizer may ask of values already imported.
pub trait Lookup {
    /// The type of a value, if known.
    fn info(&self, name: &str) -> Option<TypeInfo>;
    /// The constant value of a value, if it is one.
    fn value(&self, name: &str) -> Option<Tensor>;
}

struct Builder<'n, 'l> {
    node: &'n Node,
    lookup: &'l dyn Lookup,
    out: Vec<NormNode>,
    temps: usize,
}

fn i64s(values: &[i64]) -> Operand {
    Operand::Const(Tensor::i64(&[values.len()], values.to_vec()))
}

impl<'n, 'l> Builder<'n, 'l> {
    /// ONNX input `i` (empty names are absent optionals).
    fn input(&self, i: usize) -> Option<Operand> {
        self.node
            .inputs
            .get(i)
            .filter(|n| !n.is_empty())
            .map(|n| Operand::Value(n.clone()))
    }
    fn required(&self, i: usize) -> Result<Operand, NormError> {
        self.input(i)
            .map_or_else(|| malformed(format!("input #{i} is required")), Ok)
    }
    fn output(&self, i: usize) -> Option<String> {
        self.node.outputs.get(i).filter(|n| !n.is_empty()).cloned()
    }
    fn info_of(&self, operand: &Operand) -> Option<TypeInfo> {
        match operand {
            Operand::Value(n) => self.lookup.info(n),
            Operand::Const(t) => Some(TypeInfo::fixed(t.dtype, t.shape())),
        }
    }
    fn value_of(&self, operand: &Operand) -> Option<Tensor> {
        match operand {
            Operand::Value(n) => self.lookup.value(n),
            Operand::Const(t) => Some(t.clone()),
        }
    }
    fn rank_of(&self, operand: &Operand) -> Result<usize, NormError> {
        self.info_of(operand)
            .map(|i| i.rank())
            .map_or_else(|| unsupported("needs an input of known rank"), Ok)
    }
    fn temp(&mut self) -> String {
        self.temps += 1;
        format!("{}/normalized_{}", self.node.name, self.temps)
    }
    fn push(&mut self, op: &'static str, attrs: Attrs, inputs: Vec<Option<Operand>>, outputs: Vec<Option<String>>) {
        self.out.push(NormNode {
            op,
            attrs,
            inputs,
            outputs,
        });
    }
    /// Emits `op` with one result into a fresh temporary and returns it.
    fn push_temp(&mut self, op: &'static str, attrs: Attrs, inputs: Vec<Option<Operand>>) -> Operand {
        let t = self.temp();
        self.push(op, attrs, inputs, vec![Some(t.clone())]);
        Operand::Value(t)
    }
    /// Emits a single-result op writing ONNX output 0.
    fn simple(&mut self, op: &'static str, attrs: Attrs, inputs: Vec<Option<Operand>>) -> Result<(), NormError> {
        let out = self.output(0).map_or_else(|| malformed("output #0 is required"), Ok)?;
        self.push(op, attrs, inputs, vec![Some(out)]);
        Ok(())
    }
}

fn attrs(pairs: Vec<(&str, Attr)>) -> Attrs {
    let mut a = Attrs::default();
    for (k, v) in pairs {
        a.set(k, v);
    }
    a
}

/// `pads` from auto_pad for a sliding window over `spatial` input dims.
fn auto_pads(
    mode: &str,
    spatial: &[Option<i64>],
    kernel: &[i64],
    strides: &[i64],
    dilations: &[i64],
    explicit: Option<Vec<i64>>,
) -> Result<Vec<i64>, NormError> {
    let n = kernel.len();
    match mode {
        "NOTSET" => Ok(explicit.unwrap_or_else(|| vec![0; 2 * n])),
        "VALID" => Ok(vec![0; 2 * n]),
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut pads = vec![0; 2 * n];
            for i in 0..n {
                let Some(input) = spatial.get(i).copied().flatten() else {
                    return unsupported(format!("auto_pad {mode} needs static spatial dims"));
                };
                let out = (input + strides[i] - 1) / strides[i];
                let total = ((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - input).max(0);
                let (small, large) = (total / 2, total - total / 2);
                if mode == "SAME_UPPER" {
                    pads[i] = small;
                    pads[i + n] = large;
                } else {
                    pads[i] = large;
                    pads[i + n] = small;
                }
            }
            Ok(pads)
        }
        other => malformed(format!("auto_pad '{other}'")),
    }
}

/// The opset that introduced each op added after opset 6 (and that removed Upsample).
fn since(op: &str) -> Option<i64> {
    Some(match op {
        "Mod" | "Resize" | "QuantizeLinear" | "DequantizeLinear" | "QLinearConv" | "QLinearMatMul" | "ConvInteger"
        | "MatMulInteger" => 10,
        "CumSum" | "GatherElements" | "ScatterND" | "Range" | "Det" => 11,
        "Einsum" | "Celu" => 12,
        "HardSwish" | "Trilu" => 14,
        "CastLike" => 15,
        "LayerNormalization" => 17,
        "Gelu" => 20,
        "RMSNormalization" => 23,
        _ => return None,
    })
}

/// Normalizes one node. `lookup` answers for the values imported before it.
pub fn normalize(node: &Node, opset: i64, lookup: &dyn Lookup) -> Result<Vec<NormNode>, NormError> {
    if !(node.domain.is_empty() || node.domain == "ai.onnx") {
        return unsupported(format!("domain '{}' is not supported", node.domain));
    }
    if let Some(v) = since(&node.op_type)
        && opset < v
    {
        return malformed(format!(
            "{} exists from opset {v} on, but the model imports opset {opset}",
            node.op_type
        ));
    }
    if node.op_type == "Upsample" && opset >= 10 {
        return malformed(format!(
            "Upsample was removed in opset 10 (use Resize), and the model imports opset {opset}"
        ));
    }
    let mut b = Builder {
        node,
        lookup,
        out: Vec::new(),
        temps: 0,
    };
    normalize_into(&mut b, opset)?;
    Ok(b.out)
}

fn unary(name: &str) -> Option<&'static str> {
    Some(match name {
        "Abs" => "abs",
        "Ceil" => "ceil",
        "Cos" => "cos",
        "Erf" => "erf",
        "Exp" => "exp",
        "Floor" => "floor",
        "HardSwish" => "hard_swish",
        "Identity" => "identity",
        "Log" => "log",
        "Neg" => "neg",
        "Not" => "not",
        "Reciprocal" => "reciprocal",
        "Relu" => "relu",
        "Sigmoid" => "sigmoid",
        "Sign" => "sign",
        "Sin" => "sin",
        "Softplus" => "softplus",
        "Softsign" => "softsign",
        "Sqrt" => "sqrt",
        "Tanh" => "tanh",
        "GlobalAveragePool" => "global_average_pool",
        "GlobalMaxPool" => "global_max_pool",
        _ => return None,
    })
}

fn binary(name: &str) -> Option<&'static str> {
    Some(match name {
        "Add" => "add",
        "Sub" => "sub",
        "Mul" => "mul",
        "Div" => "div",
        "Pow" => "pow",
        "And" => "and",
        "Or" => "or",
        "Equal" => "equal",
        "Greater" => "greater",
        "Less" => "less",
        "PRelu" => "p_relu",
        "MatMul" => "mat_mul",
        "Expand" => "expand",
        "Tile" => "tile",
        "Where" => "where",
        "Range" => "range",
        _ => return None,
    })
}

fn normalize_into(b: &mut Builder, opset: i64) -> Result<(), NormError> {
    let node = b.node;
    let op = node.op_type.as_str();
    if let Some(graph_op) = unary(op) {
        OnnxAttrs::new(node, &[])?;
        let x = b.required(0)?;
        return b.simple(graph_op, Attrs::default(), vec![Some(x)]);
    }
    if let Some(graph_op) = binary(op) {
        let a = OnnxAttrs::new(node, &["broadcast", "axis"])?;
        let count = if graph_op == "where" || graph_op == "range" {
            3
        } else {
            2
        };
        let mut inputs: Vec<Option<Operand>> = (0..count).map(|i| b.required(i).map(Some)).collect::<Result<_, _>>()?;
        // Opsets before 7: `broadcast = 1` aligns B with A starting at `axis`.
        if a.int("broadcast", 0)? == 1
            && let (Some(ra), Some(Some(Operand::Value(_)))) =
                (b.info_of(inputs[0].as_ref().unwrap()).map(|i| i.rank()), inputs.get(1))
        {
            let bshape = b
                .info_of(inputs[1].as_ref().unwrap())
                .map_or_else(|| unsupported("legacy broadcast needs B's shape"), Ok)?;
            let axis = a.int("axis", (ra - bshape.rank()) as i64)?;
            let axis = if axis < 0 { axis + ra as i64 } else { axis } as usize;
            let mut target: Vec<i64> = bshape.shape.iter().map(|d| d.unwrap_or(-1)).collect();
            target.splice(0..0, std::iter::repeat_n(1, 0));
            let trailing = ra - axis - bshape.rank();
            target.extend(std::iter::repeat_n(1, trailing));
            let reshaped = b.push_temp(
                "reshape",
                attrs(vec![("allowzero", Attr::Int(0))]),
                vec![inputs[1].take(), Some(i64s(&target))],
            );
            inputs[1] = Some(reshaped);
        }
        return b.simple(graph_op, Attrs::default(), inputs);
    }
    match op {
        "Mod" => {
            let a = OnnxAttrs::new(node, &["fmod"])?;
            let inputs = vec![Some(b.required(0)?), Some(b.required(1)?)];
            b.simple("mod", attrs(vec![("fmod", Attr::Int(a.int("fmod", 0)?))]), inputs)
        }
        "Max" | "Min" | "Mean" | "Sum" => {
            OnnxAttrs::new(node, &[])?;
            let inputs: Vec<Operand> = (0..node.inputs.len()).filter_map(|i| b.input(i)).collect();
            if inputs.is_empty() {
                return malformed("needs at least one input");
            }
            let graph_op = match op {
                "Max" => "max",
                "Min" => "min",
                "Mean" => "mean",
                _ => "sum",
            };
            if op == "Sum" && inputs.len() == 2 {
                return b.simple("add", Attrs::default(), inputs.into_iter().map(Some).collect());
            }
            if op == "Mean" && inputs.len() > FAMILY {
                let sum = nest(b, "sum", Attrs::default(), inputs.clone());
                let n = Operand::Const(Tensor::f32(&[], vec![inputs.len() as f32]));
                let dtype = b.info_of(&inputs[0]).map(|i| i.dtype).unwrap_or(DType::F32);
                let n = match n {
                    Operand::Const(t) => Operand::Const(t.cast(dtype)),
                    v => v,
                };
                return b.simple("div", Attrs::default(), vec![Some(sum), Some(n)]);
            }
            let folded = nest_last(b, graph_op, Attrs::default(), inputs);
            let out = b.output(0).map_or_else(|| malformed("output #0 is required"), Ok)?;
            b.push(graph_op, Attrs::default(), family(folded), vec![Some(out)]);
            Ok(())
        }
        "Concat" => {
            let a = OnnxAttrs::new(node, &["axis"])?;
            let axis = Attr::Int(a.required_int("axis")?);
            let inputs: Vec<Operand> = (0..node.inputs.len()).filter_map(|i| b.input(i)).collect();
            if inputs.is_empty() {
                return malformed("needs at least one input");
            }
            let folded = nest_last(b, "concat", attrs(vec![("axis", axis.clone())]), inputs);
            b.simple("concat", attrs(vec![("axis", axis)]), family(folded))
        }
        "Einsum" => {
            let a = OnnxAttrs::new(node, &["equation"])?;
            let inputs: Vec<Operand> = (0..node.inputs.len()).filter_map(|i| b.input(i)).collect();
            if inputs.len() > FAMILY {
                return unsupported(format!("Einsum of more than {FAMILY} inputs"));
            }
            b.simple(
                "einsum",
                attrs(vec![("equation", Attr::Str(a.string("equation", "")?))]),
                family(inputs),
            )
        }
        "ArgMax" => {
            let a = OnnxAttrs::new(node, &["axis", "keepdims", "select_last_index"])?;
            let x = b.required(0)?;
            b.simple(
                "arg_max",
                attrs(vec![
                    ("axis", Attr::Int(a.int("axis", 0)?)),
                    ("keepdims", Attr::Int(a.int("keepdims", 1)?)),
                    ("select_last_index", Attr::Int(a.int("select_last_index", 0)?)),
                ]),
                vec![Some(x)],
            )
        }
        "AveragePool" | "MaxPool" | "Conv" | "ConvTranspose" => window_op(b, op, opset),
        "BatchNormalization" => {
            let a = OnnxAttrs::new(
                node,
                &[
                    "epsilon",
                    "momentum",
                    "spatial",
                    "is_test",
                    "training_mode",
                    "consumed_inputs",
                ],
            )?;
            if a.int("spatial", 1)? != 1 {
                return unsupported("spatial = 0");
            }
            if a.int("training_mode", 0)? != 0 {
                return training_batch_normalization(b, a.float("epsilon", 1e-5)?, a.float("momentum", 0.9)?);
            }
            if (1..node.outputs.len()).any(|i| b.output(i).is_some()) {
                return unsupported("the running statistics outputs outside training mode");
            }
            let inputs = (0..5).map(|i| b.required(i).map(Some)).collect::<Result<_, _>>()?;
            b.simple(
                "batch_normalization",
                attrs(vec![
                    ("epsilon", Attr::Float(a.float("epsilon", 1e-5)?)),
                    ("momentum", Attr::Float(a.float("momentum", 0.9)?)),
                ]),
                inputs,
            )
        }
        "Cast" => {
            let a = OnnxAttrs::new(node, &["to", "saturate", "round_mode"])?;
            let to = a.required_int("to")?;
            if DType::from_onnx_code(to).is_none() {
                return unsupported(format!("Cast to ONNX type {to}"));
            }
            if a.string("round_mode", "up")? != "up" {
                return unsupported("round_mode other than 'up'");
            }
            let x = b.required(0)?;
            b.simple(
                "cast",
                attrs(vec![
                    ("saturate", Attr::Int(a.int("saturate", 1)?)),
                    ("to", Attr::Int(to)),
                ]),
                vec![Some(x)],
            )
        }
        "CastLike" => {
            let a = OnnxAttrs::new(node, &["saturate", "round_mode"])?;
            let like = b.required(1)?;
            let dtype = b
                .info_of(&like)
                .map_or_else(|| unsupported("CastLike target of unknown type"), |i| Ok(i.dtype))?;
            let x = b.required(0)?;
            b.simple(
                "cast",
                attrs(vec![
                    ("saturate", Attr::Int(a.int("saturate", 1)?)),
                    ("to", Attr::Int(dtype.onnx_code())),
                ]),
                vec![Some(x)],
            )
        }
        _ if quantized::OPS.contains(&op) => quantized::normalize(b),
        "QuantizeLinear" | "DequantizeLinear" => {
            // ONNX affine quantization, as the ftensor ops: per tensor, or along `axis`
            // with a 1-D scale. A missing zero point is an explicit zero of the integer
            // type (uint8 unless `output_dtype` says otherwise).
            let a = OnnxAttrs::new(node, &["axis", "saturate", "block_size", "output_dtype"])?;
            let block_size = a.int("block_size", 0)?;
            let quantize = node.op_type == "QuantizeLinear";
            let x = b.required(0)?;
            let scale = b.required(1)?;
            let zero_type = match b.input(2) {
                Some(z) => b.info_of(&z).map(|i| i.dtype),
                None if quantize => DType::from_onnx_code(a.int("output_dtype", 0)?).or(Some(DType::U8)),
                None => b.info_of(&x).map(|i| i.dtype),
            };
            let zero_type = match zero_type {
                Some(t @ (DType::U8 | DType::I8)) => t,
                Some(DType::I32) if !quantize => DType::I32,
                Some(t) => return unsupported(format!("quantization to {t} is not supported (int8 and uint8 are)")),
                None => return malformed("the zero point's type is unknown"),
            };
            let zero = b.input(2).unwrap_or_else(|| {
                let shape: Vec<usize> = b.info_of(&scale).and_then(|i| i.static_shape()).unwrap_or_default();
                Operand::Const(Tensor::full(zero_type, &shape, 0.0))
            });
            let op = if quantize {
                "ftensor.quantize"
            } else {
                "ftensor.dequantize"
            };
            if block_size != 0 {
                return blocked_quantization(b, op, [x, scale, zero], a.int("axis", 1)?, block_size);
            }
            let mut attrs = Attrs::default();
            attrs.set("axis", Attr::Int(a.int("axis", 1)?));
            b.simple(op, attrs, vec![Some(x), Some(scale), Some(zero)])
        }
        "Clip" => {
            let a = OnnxAttrs::new(node, &["min", "max"])?;
            let x = b.required(0)?;
            let (lo, hi) = if opset < 11 {
                let dtype = b.info_of(&x).map(|i| i.dtype).unwrap_or(DType::F32);
                let c = |v: f64| Operand::Const(Tensor::f32(&[], vec![v as f32]).cast(dtype));
                (
                    a.get("min")
                        .is_some()
                        .then(|| c(a.float("min", f32::MIN).unwrap_or(0.0))),
                    a.get("max")
                        .is_some()
                        .then(|| c(a.float("max", f32::MAX).unwrap_or(0.0))),
                )
            } else {
                (b.input(1), b.input(2))
            };
            b.simple("clip", Attrs::default(), vec![Some(x), lo, hi])
        }
        "Constant" => {
            let a = OnnxAttrs::new(
                node,
                &[
                    "value",
                    "value_float",
                    "value_floats",
                    "value_int",
                    "value_ints",
                    "value_string",
                    "value_strings",
                    "sparse_value",
                ],
            )?;
            let value = match (
                a.get("value"),
                a.get("value_float"),
                a.get("value_floats"),
                a.get("value_int"),
                a.get("value_ints"),
            ) {
                (Some(AttrValue::Tensor(t)), ..) => t.clone(),
                (_, Some(AttrValue::Float(v)), ..) => Tensor::f32(&[], vec![*v]),
                (_, _, Some(AttrValue::Floats(v)), ..) => Tensor::f32(&[v.len()], v.clone()),
                (_, _, _, Some(AttrValue::Int(v)), _) => Tensor::i64(&[], vec![*v]),
                (_, _, _, _, Some(AttrValue::Ints(v))) => Tensor::i64(&[v.len()], v.clone()),
                _ => return unsupported("a Constant that is not a numeric tensor"),
            };
            b.simple("constant", attrs(vec![("value", Attr::Tensor(value))]), vec![])
        }
        "ConstantOfShape" => {
            let a = OnnxAttrs::new(node, &["value"])?;
            let value = match a.get("value") {
                Some(AttrValue::Tensor(t)) => t.clone(),
                None => Tensor::f32(&[1], vec![0.0]),
                _ => return malformed("attribute 'value' must be a tensor"),
            };
            let value = if value.shape().is_empty() {
                Tensor {
                    dtype: value.dtype,
                    data: reshape_data(&value, &[1]),
                }
            } else {
                value
            };
            let shape = b.required(0)?;
            b.simple(
                "constant_of_shape",
                attrs(vec![("value", Attr::Tensor(value))]),
                vec![Some(shape)],
            )
        }
        "CumSum" => {
            let a = OnnxAttrs::new(node, &["exclusive", "reverse"])?;
            let inputs = vec![Some(b.required(0)?), Some(b.required(1)?)];
            b.simple(
                "cum_sum",
                attrs(vec![
                    ("exclusive", Attr::Int(a.int("exclusive", 0)?)),
                    ("reverse", Attr::Int(a.int("reverse", 0)?)),
                ]),
                inputs,
            )
        }
        "DepthToSpace" => {
            let a = OnnxAttrs::new(node, &["blocksize", "mode"])?;
            let x = b.required(0)?;
            b.simple(
                "depth_to_space",
                attrs(vec![
                    ("blocksize", Attr::Int(a.required_int("blocksize")?)),
                    ("mode", Attr::Str(a.string("mode", "DCR")?)),
                ]),
                vec![Some(x)],
            )
        }
        "SpaceToDepth" => {
            let a = OnnxAttrs::new(node, &["blocksize", "mode"])?;
            let x = b.required(0)?;
            b.simple(
                "space_to_depth",
                attrs(vec![
                    ("blocksize", Attr::Int(a.required_int("blocksize")?)),
                    ("mode", Attr::Str(a.string("mode", "DCR")?)),
                ]),
                vec![Some(x)],
            )
        }
        "Dropout" => {
            let a = OnnxAttrs::new(node, &["ratio", "is_test", "seed"])?;
            // Training mode (opset 12 on): a constant true, or a flag known only at run time.
            let training = match b.input(2) {
                None => Some(false),
                Some(t) => b.value_of(&t).map(|v| v.to_i64_vec().iter().any(|&x| x != 0)),
            };
            if training != Some(false) {
                return training_dropout(b, &a, training.is_none());
            }
            let x = b.required(0)?;
            let outputs = vec![b.output(0), b.output(1)];
            b.push("dropout", Attrs::default(), vec![Some(x), None, None], outputs);
            Ok(())
        }
        "Elu" | "LeakyRelu" => {
            let a = OnnxAttrs::new(node, &["alpha"])?;
            let x = b.required(0)?;
            let (graph_op, default) = if op == "Elu" {
                ("elu", 1.0)
            } else {
                ("leaky_relu", 0.01)
            };
            b.simple(
                graph_op,
                attrs(vec![("alpha", Attr::Float(a.float("alpha", default)?))]),
                vec![Some(x)],
            )
        }
        "Selu" => {
            let a = OnnxAttrs::new(node, &["alpha", "gamma"])?;
            let x = b.required(0)?;
            b.simple(
                "selu",
                attrs(vec![
                    ("alpha", Attr::Float(a.float("alpha", 1.673_263_2)?)),
                    ("gamma", Attr::Float(a.float("gamma", 1.050_701)?)),
                ]),
                vec![Some(x)],
            )
        }
        "HardSigmoid" => {
            let a = OnnxAttrs::new(node, &["alpha", "beta"])?;
            let x = b.required(0)?;
            b.simple(
                "hard_sigmoid",
                attrs(vec![
                    ("alpha", Attr::Float(a.float("alpha", 0.2)?)),
                    ("beta", Attr::Float(a.float("beta", 0.5)?)),
                ]),
                vec![Some(x)],
            )
        }
        "Gelu" => {
            let a = OnnxAttrs::new(node, &["approximate"])?;
            let x = b.required(0)?;
            b.simple(
                "gelu",
                attrs(vec![("approximate", Attr::Str(a.string("approximate", "none")?))]),
                vec![Some(x)],
            )
        }
        "Flatten" => {
            let a = OnnxAttrs::new(node, &["axis"])?;
            let x = b.required(0)?;
            b.simple(
                "flatten",
                attrs(vec![("axis", Attr::Int(a.int("axis", 1)?))]),
                vec![Some(x)],
            )
        }
        "Gather" | "GatherElements" => {
            let a = OnnxAttrs::new(node, &["axis"])?;
            let inputs = vec![Some(b.required(0)?), Some(b.required(1)?)];
            b.simple(
                if op == "Gather" { "gather" } else { "gather_elements" },
                attrs(vec![("axis", Attr::Int(a.int("axis", 0)?))]),
                inputs,
            )
        }
        "Gemm" => {
            let a = OnnxAttrs::new(node, &["alpha", "beta", "transA", "transB", "broadcast"])?;
            let inputs = vec![Some(b.required(0)?), Some(b.required(1)?), b.input(2)];
            b.simple(
                "gemm",
                attrs(vec![
                    ("alpha", Attr::Float(a.float("alpha", 1.0)?)),
                    ("beta", Attr::Float(a.float("beta", 1.0)?)),
                    ("trans_a", Attr::Int(a.int("transA", 0)?)),
                    ("trans_b", Attr::Int(a.int("transB", 0)?)),
                ]),
                inputs,
            )
        }
        "InstanceNormalization" => {
            let a = OnnxAttrs::new(node, &["epsilon"])?;
            let inputs = (0..3).map(|i| b.required(i).map(Some)).collect::<Result<_, _>>()?;
            b.simple(
                "instance_normalization",
                attrs(vec![("epsilon", Attr::Float(a.float("epsilon", 1e-5)?))]),
                inputs,
            )
        }
        "LayerNormalization" => {
            let a = OnnxAttrs::new(node, &["axis", "epsilon", "stash_type"])?;
            let inputs = vec![Some(b.required(0)?), Some(b.required(1)?), b.input(2)];
            let outputs = vec![b.output(0), b.output(1), b.output(2)];
            b.push(
                "layer_normalization",
                attrs(vec![
                    ("axis", Attr::Int(a.int("axis", -1)?)),
                    ("epsilon", Attr::Float(a.float("epsilon", 1e-5)?)),
                    ("stash_type", Attr::Int(a.int("stash_type", 1)?)),
                ]),
                inputs,
                outputs,
            );
            Ok(())
        }
        "RMSNormalization" => {
            let a = OnnxAttrs::new(node, &["axis", "epsilon", "stash_type"])?;
            let inputs = vec![Some(b.required(0)?), Some(b.required(1)?)];
            b.simple(
                "rms_normalization",
                attrs(vec![
                    ("axis", Attr::Int(a.int("axis", -1)?)),
                    ("epsilon", Attr::Float(a.float("epsilon", 1e-5)?)),
                    ("stash_type", Attr::Int(a.int("stash_type", 1)?)),
                ]),
                inputs,
            )
        }
        "LRN" => {
            let a = OnnxAttrs::new(node, &["alpha", "beta", "bias", "size"])?;
            let x = b.required(0)?;
            b.simple(
                "lrn",
                attrs(vec![
                    ("alpha", Attr::Float(a.float("alpha", 1e-4)?)),
                    ("beta", Attr::Float(a.float("beta", 0.75)?)),
                    ("bias", Attr::Float(a.float("bias", 1.0)?)),
                    ("size", Attr::Int(a.required_int("size")?)),
                ]),
                vec![Some(x)],
            )
        }
        "Softmax" | "LogSoftmax" => {
            let a = OnnxAttrs::new(node, &["axis"])?;
            let x = b.required(0)?;
            let graph_op = if op == "Softmax" { "softmax" } else { "log_softmax" };
            if opset >= 13 {
                return b.simple(
                    graph_op,
                    attrs(vec![("axis", Attr::Int(a.int("axis", -1)?))]),
                    vec![Some(x)],
                );
            }
            // Before opset 13 the input is coerced to 2-D at `axis` (default 1).
            let info = b
                .info_of(&x)
                .map_or_else(|| unsupported("opset < 13 Softmax needs a known input shape"), Ok)?;
            let axis = a.int("axis", 1)?;
            let flat = b.push_temp("flatten", attrs(vec![("axis", Attr::Int(axis))]), vec![Some(x)]);
            let soft = b.push_temp(graph_op, attrs(vec![("axis", Attr::Int(1))]), vec![Some(flat)]);
            let shape: Vec<i64> = info.shape.iter().map(|d| d.unwrap_or(0)).collect();
            if shape.contains(&0) && info.shape.iter().filter(|d| d.is_none()).count() > 1 {
                return unsupported("opset < 13 Softmax of an input with several dynamic dims");
            }
            let target: Vec<i64> = info.shape.iter().map(|d| d.unwrap_or(-1)).collect();
            b.simple(
                "reshape",
                attrs(vec![("allowzero", Attr::Int(0))]),
                vec![Some(soft), Some(i64s(&target))],
            )
        }
        "Pad" => {
            let a = OnnxAttrs::new(node, &["mode", "pads", "value"])?;
            let x = b.required(0)?;
            let mode = a.string("mode", "constant")?;
            if !["constant", "reflect", "edge", "wrap"].contains(&mode.as_str()) {
                return malformed(format!("mode '{mode}' (constant, reflect, edge or wrap)"));
            }
            let (pads, value, axes) = if opset < 11 {
                let pads = a
                    .ints("pads")?
                    .map_or_else(|| malformed("attribute 'pads' is required"), Ok)?;
                let dtype = b.info_of(&x).map(|i| i.dtype).unwrap_or(DType::F32);
                (
                    i64s(&pads),
                    Some(Operand::Const(
                        Tensor::f32(&[], vec![a.float("value", 0.0)? as f32]).cast(dtype),
                    )),
                    None,
                )
            } else {
                (b.required(1)?, b.input(2), b.input(3))
            };
            b.simple(
                "pad",
                attrs(vec![("mode", Attr::Str(mode))]),
                vec![Some(x), Some(pads), value, axes],
            )
        }
        "ReduceL2" | "ReduceMax" | "ReduceMean" | "ReduceMin" | "ReduceProd" | "ReduceSum" => {
            let a = OnnxAttrs::new(node, &["axes", "keepdims", "noop_with_empty_axes"])?;
            let graph_op = match op {
                "ReduceL2" => "reduce_l2",
                "ReduceMax" => "reduce_max",
                "ReduceMean" => "reduce_mean",
                "ReduceMin" => "reduce_min",
                "ReduceProd" => "reduce_prod",
                _ => "reduce_sum",
            };
            let axes_as_input = if op == "ReduceSum" { opset >= 13 } else { opset >= 18 };
            let axes = if axes_as_input {
                b.input(1)
            } else {
                a.ints("axes")?.map(|v| i64s(&v))
            };
            let x = b.required(0)?;
            b.simple(
                graph_op,
                attrs(vec![
                    ("keepdims", Attr::Int(a.int("keepdims", 1)?)),
                    ("noop_with_empty_axes", Attr::Int(a.int("noop_with_empty_axes", 0)?)),
                ]),
                vec![Some(x), axes],
            )
        }
        "Reshape" => {
            let a = OnnxAttrs::new(node, &["allowzero", "shape"])?;
            let x = b.required(0)?;
            let shape = match b.input(1) {
                Some(s) => s,
                None => i64s(&a.ints("shape")?.map_or_else(|| malformed("no shape"), Ok)?),
            };
            b.simple(
                "reshape",
                attrs(vec![("allowzero", Attr::Int(a.int("allowzero", 0)?))]),
                vec![Some(x), Some(shape)],
            )
        }
        "Resize" | "Upsample" => resize(b, opset),
        "ScatterND" => {
            let a = OnnxAttrs::new(node, &["reduction"])?;
            let inputs = (0..3).map(|i| b.required(i).map(Some)).collect::<Result<_, _>>()?;
            b.simple(
                "scatter_nd",
                attrs(vec![("reduction", Attr::Str(a.string("reduction", "none")?))]),
                inputs,
            )
        }
        "Shape" => {
            let a = OnnxAttrs::new(node, &["start", "end"])?;
            let x = b.required(0)?;
            let rank = b.rank_of(&x)? as i64;
            b.simple(
                "shape",
                attrs(vec![
                    ("end", Attr::Int(a.int("end", rank)?)),
                    ("start", Attr::Int(a.int("start", 0)?)),
                ]),
                vec![Some(x)],
            )
        }
        "Slice" => {
            let a = OnnxAttrs::new(node, &["starts", "ends", "axes"])?;
            let x = b.required(0)?;
            let inputs = if opset < 10 {
                let get = |n: &str| a.ints(n);
                let starts = get("starts")?.map_or_else(|| malformed("attribute 'starts' is required"), Ok)?;
                let ends = get("ends")?.map_or_else(|| malformed("attribute 'ends' is required"), Ok)?;
                vec![
                    Some(x),
                    Some(i64s(&starts)),
                    Some(i64s(&ends)),
                    get("axes")?.map(|v| i64s(&v)),
                    None,
                ]
            } else {
                vec![
                    Some(x),
                    Some(b.required(1)?),
                    Some(b.required(2)?),
                    b.input(3),
                    b.input(4),
                ]
            };
            b.simple("slice", Attrs::default(), inputs)
        }
        "Split" => {
            let a = OnnxAttrs::new(node, &["axis", "split", "num_outputs"])?;
            let x = b.required(0)?;
            let axis = a.int("axis", 0)?;
            let outputs: Vec<Option<String>> = (0..node.outputs.len()).map(|i| b.output(i)).collect();
            let n = node.outputs.len();
            if n == 0 {
                return malformed("Split needs at least one output");
            }
            if n > FAMILY {
                return unsupported(format!("Split into more than {FAMILY} outputs"));
            }
            let sizes = match (opset < 13, a.ints("split")?, b.input(1)) {
                (true, Some(s), _) => i64s(&s),
                (false, _, Some(s)) => s,
                _ => {
                    // Equal parts (the last smaller when num_outputs does not divide).
                    let info = b
                        .info_of(&x)
                        .map_or_else(|| unsupported("Split without sizes needs a known input shape"), Ok)?;
                    let ax = if axis < 0 { axis + info.rank() as i64 } else { axis } as usize;
                    let parts = n as i64;
                    let Some(dim) = info.shape.get(ax).copied().flatten() else {
                        // A dynamic dim: the same sizes, computed at run time from the shape
                        // (chunk = ceil(dim / parts); the last part takes the rest).
                        let d = b.push_temp(
                            "shape",
                            attrs(vec![("end", Attr::Int(ax as i64 + 1)), ("start", Attr::Int(ax as i64))]),
                            vec![Some(x.clone())],
                        );
                        let plus =
                            b.push_temp("add", Attrs::default(), vec![Some(d.clone()), Some(i64s(&[parts - 1]))]);
                        let chunk = b.push_temp("div", Attrs::default(), vec![Some(plus), Some(i64s(&[parts]))]);
                        let used = b.push_temp(
                            "mul",
                            Attrs::default(),
                            vec![Some(chunk.clone()), Some(i64s(&[parts - 1]))],
                        );
                        let last = b.push_temp("sub", Attrs::default(), vec![Some(d), Some(used)]);
                        let mut pieces = vec![chunk; n - 1];
                        pieces.push(last);
                        let sizes = b.push_temp("concat", attrs(vec![("axis", Attr::Int(0))]), family(pieces));
                        let mut outs = outputs;
                        outs.resize(FAMILY, None);
                        b.push(
                            "split",
                            attrs(vec![("axis", Attr::Int(axis))]),
                            vec![Some(x), Some(sizes)],
                            outs,
                        );
                        return Ok(());
                    };
                    let chunk = (dim + parts - 1) / parts;
                    let mut s: Vec<i64> = (0..parts).map(|i| chunk.min(dim - chunk * i).max(0)).collect();
                    if a.get("num_outputs").is_none() && dim % parts != 0 {
                        return malformed(format!("dim {dim} does not split into {parts} equal parts"));
                    }
                    if let Some(last) = s.last_mut() {
                        *last = dim - chunk * (parts - 1);
                    }
                    i64s(&s)
                }
            };
            let mut outs = outputs;
            outs.resize(FAMILY, None);
            b.push(
                "split",
                attrs(vec![("axis", Attr::Int(axis))]),
                vec![Some(x), Some(sizes)],
                outs,
            );
            Ok(())
        }
        "Squeeze" | "Unsqueeze" => {
            let a = OnnxAttrs::new(node, &["axes"])?;
            let x = b.required(0)?;
            let axes = if opset < 13 {
                a.ints("axes")?.map(|v| i64s(&v))
            } else {
                b.input(1)
            };
            if op == "Unsqueeze" {
                let axes = axes.map_or_else(|| malformed("axes are required"), Ok)?;
                b.simple("unsqueeze", Attrs::default(), vec![Some(x), Some(axes)])
            } else {
                b.simple("squeeze", Attrs::default(), vec![Some(x), axes])
            }
        }
        "TopK" => {
            let a = OnnxAttrs::new(node, &["axis", "largest", "sorted", "k"])?;
            let x = b.required(0)?;
            let k = if opset < 10 {
                i64s(&[a.required_int("k")?])
            } else {
                b.required(1)?
            };
            if a.int("sorted", 1)? != 1 {
                return unsupported("sorted = 0");
            }
            let outputs = vec![b.output(0), b.output(1)];
            b.push(
                "top_k",
                attrs(vec![
                    ("axis", Attr::Int(a.int("axis", -1)?)),
                    ("largest", Attr::Int(a.int("largest", 1)?)),
                    ("sorted", Attr::Int(1)),
                ]),
                vec![Some(x), Some(k)],
                outputs,
            );
            Ok(())
        }
        "Transpose" => {
            let a = OnnxAttrs::new(node, &["perm"])?;
            let x = b.required(0)?;
            let perm = match a.ints("perm")? {
                Some(p) => p,
                None => (0..b.rank_of(&x)? as i64).rev().collect(),
            };
            b.simple("transpose", attrs(vec![("perm", Attr::Ints(perm))]), vec![Some(x)])
        }
        "Trilu" => {
            let a = OnnxAttrs::new(node, &["upper"])?;
            let inputs = vec![Some(b.required(0)?), b.input(1)];
            b.simple("trilu", attrs(vec![("upper", Attr::Int(a.int("upper", 1)?))]), inputs)
        }
        _ => unsupported(format!("op '{op}' is not supported")),
    }
}

/// Blocked quantization (opset 21 on) as the per-axis ftensor op `op`: along `axis`, each
/// run of `block_size` values shares one scale and zero point (which have `x`'s shape with
/// that dim divided by the block size). `x` is split along the axis into (blocks, block),
/// the block dim moved last and the rest flattened, so that each row is one block and the
/// scale and zero point, flattened, go along axis 0; the result is moved back.
fn blocked_quantization(
    b: &mut Builder,
    op: &'static str,
    [x, scale, zero]: [Operand; 3],
    axis: i64,
    block_size: i64,
) -> Result<(), NormError> {
    let shape = b
        .info_of(&x)
        .and_then(|i| i.static_shape())
        .map_or_else(|| unsupported("blocked quantization needs a static input shape"), Ok)?;
    let rank = shape.len() as i64;
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&axis) || block_size < 0 {
        return malformed(format!("axis {axis} or block_size {block_size} out of range"));
    }
    let (axis, block) = (axis as usize, block_size as usize);
    if shape[axis] % block != 0 {
        return unsupported("blocked quantization with a partial last block");
    }
    let dims = |d: &[usize]| i64s(&d.iter().map(|&v| v as i64).collect::<Vec<_>>());
    let reshape = |b: &mut Builder, v: Operand, d: &[usize]| {
        b.push_temp(
            "reshape",
            attrs(vec![("allowzero", Attr::Int(0))]),
            vec![Some(v), Some(dims(d))],
        )
    };
    // (.., blocks, block, ..), then the block dim last.
    let mut split = shape.clone();
    split[axis] /= block;
    split.insert(axis + 1, block);
    let mut perm: Vec<i64> = (0..split.len() as i64).filter(|&d| d != axis as i64 + 1).collect();
    perm.push(axis as i64 + 1);
    let moved: Vec<usize> = perm.iter().map(|&d| split[d as usize]).collect();
    let rows = moved[..moved.len() - 1].iter().product::<usize>();
    let split_x = reshape(b, x, &split);
    let moved_x = b.push_temp(
        "transpose",
        attrs(vec![("perm", Attr::Ints(perm.clone()))]),
        vec![Some(split_x)],
    );
    let blocks = reshape(b, moved_x, &[rows, block]);
    let (scale, zero) = (reshape(b, scale, &[rows]), reshape(b, zero, &[rows]));
    let quantized = b.push_temp(
        op,
        attrs(vec![("axis", Attr::Int(0))]),
        vec![Some(blocks), Some(scale), Some(zero)],
    );
    let unflattened = reshape(b, quantized, &moved);
    let mut inverse = vec![0i64; perm.len()];
    for (i, &d) in perm.iter().enumerate() {
        inverse[d as usize] = i as i64;
    }
    let back = b.push_temp(
        "transpose",
        attrs(vec![("perm", Attr::Ints(inverse))]),
        vec![Some(unflattened)],
    );
    b.simple(
        "reshape",
        attrs(vec![("allowzero", Attr::Int(0))]),
        vec![Some(back), Some(dims(&shape))],
    )
}

/// A training-mode BatchNormalization (opset 14 on) as ONNX defines it (its reference
/// implementation), in graph ops: the batch's mean and (population) variance over every
/// axis but the channels', `y = scale · (x - mean) / sqrt(var + epsilon) + bias` with
/// them, and the running statistics `running · momentum + batch · (1 - momentum)` as
/// outputs 1 and 2.
fn training_batch_normalization(b: &mut Builder, epsilon: f64, momentum: f64) -> Result<(), NormError> {
    let x = b.required(0)?;
    let rank = b.rank_of(&x)?;
    if rank < 2 {
        return malformed("BatchNormalization needs an (N, C, ...) input");
    }
    let dtype = b
        .info_of(&x)
        .map_or_else(|| unsupported("training_mode needs the input's type"), Ok)?
        .dtype;
    let [scale, bias, running_mean, running_var] = [1, 2, 3, 4].map(|i| b.required(i));
    let (scale, bias, running_mean, running_var) = (scale?, bias?, running_mean?, running_var?);
    let scalar = |v: f64| Operand::Const(Tensor::full(dtype, &[], v));
    let axes: Vec<i64> = (0..rank as i64).filter(|&a| a != 1).collect();
    let keep = attrs(vec![("keepdims", Attr::Int(1)), ("noop_with_empty_axes", Attr::Int(0))]);
    let mean = b.push_temp("reduce_mean", keep.clone(), vec![Some(x.clone()), Some(i64s(&axes))]);
    let centered = b.push_temp("sub", Attrs::default(), vec![Some(x), Some(mean.clone())]);
    let squares = b.push_temp(
        "mul",
        Attrs::default(),
        vec![Some(centered.clone()), Some(centered.clone())],
    );
    let var = b.push_temp("reduce_mean", keep, vec![Some(squares), Some(i64s(&axes))]);
    // Per-channel operands as (C, 1, ...) against (N, C, ...).
    let trailing: Vec<i64> = (1..rank as i64 - 1).collect();
    let per_channel = |b: &mut Builder, v: Operand| {
        if trailing.is_empty() {
            v
        } else {
            b.push_temp("unsqueeze", Attrs::default(), vec![Some(v), Some(i64s(&trailing))])
        }
    };
    let (scale, bias) = (per_channel(b, scale), per_channel(b, bias));
    let shifted = b.push_temp("add", Attrs::default(), vec![Some(var.clone()), Some(scalar(epsilon))]);
    let deviation = b.push_temp("sqrt", Attrs::default(), vec![Some(shifted)]);
    let scaled = b.push_temp("mul", Attrs::default(), vec![Some(scale), Some(centered)]);
    let normalized = b.push_temp("div", Attrs::default(), vec![Some(scaled), Some(deviation)]);
    let y = b.output(0);
    b.push("add", Attrs::default(), vec![Some(normalized), Some(bias)], vec![y]);
    // The running statistics, from the batch's as (C).
    let channels = b.push_temp(
        "shape",
        attrs(vec![("end", Attr::Int(2)), ("start", Attr::Int(1))]),
        vec![Some(b.required(0)?)],
    );
    for (slot, running, batch) in [(1, running_mean, mean), (2, running_var, var)] {
        let Some(output) = b.output(slot) else {
            continue;
        };
        let batch = b.push_temp(
            "reshape",
            attrs(vec![("allowzero", Attr::Int(0))]),
            vec![Some(batch), Some(channels.clone())],
        );
        let kept = b.push_temp("mul", Attrs::default(), vec![Some(running), Some(scalar(momentum))]);
        let new = b.push_temp("mul", Attrs::default(), vec![Some(batch), Some(scalar(1.0 - momentum))]);
        b.push("add", Attrs::default(), vec![Some(kept), Some(new)], vec![Some(output)]);
    }
    Ok(())
}

/// A training-mode Dropout as ONNX defines it (its reference implementation): with the
/// node's seed, the mask is `uniform(0, 1, shape) >= ratio` from numpy's `RandomState(seed)`,
/// and the output `mask · x · (1 / (1 - ratio))`. The draws are a constant (see
/// [`crate::numpy_random`]), compared in f64 with the ratio, which may be a run-time
/// input; a run-time `training_mode` flag selects between that and the inference form (`x`,
/// and a mask of ones). Without a seed the mask is random, so it is refused.
fn training_dropout(b: &mut Builder, a: &OnnxAttrs, flag_at_run_time: bool) -> Result<(), NormError> {
    let Some(AttrValue::Int(seed)) = a.get("seed") else {
        return unsupported("training_mode without a seed (the mask would be random)");
    };
    let x = b.required(0)?;
    let info = b
        .info_of(&x)
        .map_or_else(|| unsupported("training_mode needs the input's type"), Ok)?;
    let (dtype, Some(shape)) = (info.dtype, info.static_shape()) else {
        return unsupported("training_mode needs a static input shape");
    };
    if !dtype.is_float() {
        return malformed("Dropout's input must be a float tensor");
    }
    // The draws become a constant: a declared shape must not become a huge allocation.
    const MOST_DRAWS: usize = 1 << 27;
    let count = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let Some(count) = count.filter(|&c| c <= MOST_DRAWS) else {
        return unsupported(format!(
            "training_mode over {shape:?} (its mask is a constant of at most 2^27 values)"
        ));
    };
    let Some(draws) = crate::numpy_random::uniform(*seed, count) else {
        return unsupported(format!("seed {seed} (numpy takes 0 to 2^32 - 1)"));
    };
    let draws = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), draws)
        .map_or_else(|e| malformed(format!("mask shape: {e}")), Ok)?;
    let ratio = b
        .input(1)
        .unwrap_or_else(|| Operand::Const(Tensor::full(DType::F32, &[], 0.5)));
    let cast = |b: &mut Builder, value: Operand, to: DType| {
        b.push_temp(
            "cast",
            attrs(vec![("saturate", Attr::Int(1)), ("to", Attr::Int(to.onnx_code()))]),
            vec![Some(value)],
        )
    };
    let ratio_f64 = cast(b, ratio.clone(), DType::F64);
    let dropped = b.push_temp(
        "less",
        Attrs::default(),
        vec![Some(Operand::Const(Tensor::float(DType::F64, draws))), Some(ratio_f64)],
    );
    let mask = b.push_temp("not", Attrs::default(), vec![Some(dropped)]);
    let kept = cast(b, mask.clone(), dtype);
    let ratio_x = cast(b, ratio, dtype);
    let one = Operand::Const(Tensor::full(dtype, &[], 1.0));
    let keep_ratio = b.push_temp("sub", Attrs::default(), vec![Some(one.clone()), Some(ratio_x)]);
    let scale = b.push_temp("div", Attrs::default(), vec![Some(one), Some(keep_ratio)]);
    let masked = b.push_temp("mul", Attrs::default(), vec![Some(kept), Some(x.clone())]);
    let (output, mask_output) = (b.output(0), b.output(1));
    if !flag_at_run_time {
        b.push("mul", Attrs::default(), vec![Some(masked), Some(scale)], vec![output]);
        if mask_output.is_some() {
            b.push("identity", Attrs::default(), vec![Some(mask)], vec![mask_output]);
        }
        return Ok(());
    }
    let flag = b.required(2)?;
    let trained = b.push_temp("mul", Attrs::default(), vec![Some(masked), Some(scale)]);
    b.push(
        "where",
        Attrs::default(),
        vec![Some(flag.clone()), Some(trained), Some(x)],
        vec![output],
    );
    if mask_output.is_some() {
        let ones = Operand::Const(Tensor::bool(ndarray::ArrayD::from_elem(ndarray::IxDyn(&shape), true)));
        b.push(
            "where",
            Attrs::default(),
            vec![Some(flag), Some(mask), Some(ones)],
            vec![mask_output],
        );
    }
    Ok(())
}

fn reshape_data(t: &Tensor, shape: &[usize]) -> fuser_dialects::semantics::Data {
    use fuser_dialects::map_data;
    map_data!(&t.data, a => a.clone().into_shape_with_order(ndarray::IxDyn(shape)).expect("one element"))
}

/// Puts up to 16 operands in a family's slots.
fn family(inputs: Vec<Operand>) -> Vec<Option<Operand>> {
    let mut slots: Vec<Option<Operand>> = inputs.into_iter().map(Some).collect();
    slots.resize(FAMILY, None);
    slots
}

/// For an associative op with more than 16 operands: combines the leading ones into
/// temporaries until 16 remain.
fn nest_last(b: &mut Builder, op: &'static str, attrs: Attrs, mut inputs: Vec<Operand>) -> Vec<Operand> {
    while inputs.len() > FAMILY {
        let head: Vec<Operand> = inputs.drain(..FAMILY).collect();
        let t = b.push_temp(op, attrs.clone(), family(head));
        inputs.insert(0, t);
    }
    inputs
}

/// Like `nest_last`, down to one operand.
fn nest(b: &mut Builder, op: &'static str, attrs: Attrs, inputs: Vec<Operand>) -> Operand {
    let rest = nest_last(b, op, attrs.clone(), inputs);
    b.push_temp(op, attrs, family(rest))
}

fn window_op(b: &mut Builder, op: &str, opset: i64) -> Result<(), NormError> {
    let node = b.node;
    let allowed: &[&str] = match op {
        "Conv" => &["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"],
        "ConvTranspose" => &[
            "auto_pad",
            "dilations",
            "group",
            "kernel_shape",
            "output_padding",
            "output_shape",
            "pads",
            "strides",
        ],
        "MaxPool" => &[
            "auto_pad",
            "ceil_mode",
            "dilations",
            "kernel_shape",
            "pads",
            "storage_order",
            "strides",
        ],
        _ => &[
            "auto_pad",
            "ceil_mode",
            "count_include_pad",
            "dilations",
            "kernel_shape",
            "pads",
            "strides",
        ],
    };
    let a = OnnxAttrs::new(node, allowed)?;
    let x = b.required(0)?;
    let xinfo = b
        .info_of(&x)
        .map_or_else(|| unsupported("needs an input of known rank"), Ok)?;
    if xinfo.rank() < 3 {
        return malformed("needs an (N, C, spatial...) input");
    }
    let spatial = xinfo.rank() - 2;
    let w = if op.starts_with("Conv") {
        Some(b.required(1)?)
    } else {
        None
    };
    let kernel = match a.ints("kernel_shape")? {
        Some(k) => k,
        None => {
            let winfo = w.as_ref().and_then(|w| b.info_of(w)).map_or_else(
                || malformed("kernel_shape is missing and the weight's shape is unknown"),
                Ok,
            )?;
            if winfo.rank() != xinfo.rank() {
                return malformed("the weight's rank differs from the input's");
            }
            winfo.shape[2..]
                .iter()
                .map(|d| d.map_or_else(|| unsupported("kernel_shape of a dynamic weight"), Ok))
                .collect::<Result<_, _>>()?
        }
    };
    if kernel.len() != spatial {
        return malformed(format!(
            "kernel_shape has {} dims for {spatial} spatial dims",
            kernel.len()
        ));
    }
    let strides = a.ints("strides")?.unwrap_or_else(|| vec![1; spatial]);
    let dilations = a.ints("dilations")?.unwrap_or_else(|| vec![1; spatial]);
    if strides.len() != spatial || dilations.len() != spatial {
        return malformed(format!("strides and dilations need {spatial} values"));
    }
    if strides.iter().chain(&dilations).chain(&kernel).any(|&v| v < 1) {
        return malformed("kernel_shape, strides and dilations must be positive");
    }
    let auto_pad = a.string("auto_pad", "NOTSET")?;
    let mut out = vec![
        ("dilations", Attr::Ints(dilations.clone())),
        ("kernel_shape", Attr::Ints(kernel.clone())),
        ("strides", Attr::Ints(strides.clone())),
    ];
    match op {
        "ConvTranspose" => {
            let mut output_padding = a.ints("output_padding")?.unwrap_or_else(|| vec![0; spatial]);
            if output_padding.len() != spatial || a.ints("output_shape")?.is_some_and(|s| s.len() < spatial) {
                return malformed(format!("output_padding and output_shape need {spatial} values"));
            }
            let output_shape = a.ints("output_shape")?;
            let pads = match output_shape {
                _ if output_shape.is_some() || auto_pad.starts_with("SAME") => {
                    // The pads that give `output_shape` (or input * stride for SAME), split
                    // as the ONNX spec says.
                    let target: Vec<i64> = match &output_shape {
                        Some(s) => s[s.len().saturating_sub(spatial)..].to_vec(),
                        None => xinfo.shape[2..]
                            .iter()
                            .zip(&strides)
                            .map(|(d, s)| d.map(|d| d * s).unwrap_or(-1))
                            .collect(),
                    };
                    let mut pads = vec![0; 2 * spatial];
                    for i in 0..spatial {
                        let input = xinfo.shape[2 + i]
                            .map_or_else(|| unsupported("output_shape with dynamic spatial dims"), Ok)?;
                        let total = strides[i] * (input - 1) + output_padding[i] + ((kernel[i] - 1) * dilations[i] + 1)
                            - target[i];
                        // Floor division, as in the ONNX definition.
                        let (half, rest) = (total.div_euclid(2), total - total.div_euclid(2));
                        if auto_pad == "SAME_UPPER" {
                            pads[i] = half;
                            pads[i + spatial] = rest;
                        } else {
                            pads[i] = rest;
                            pads[i + spatial] = half;
                        }
                    }
                    // A negative end pad grows the output: that is output_padding.
                    for i in 0..spatial {
                        if pads[i + spatial] < 0 {
                            output_padding[i] -= pads[i + spatial];
                            pads[i + spatial] = 0;
                        }
                        if pads[i] < 0 {
                            return unsupported("ConvTranspose output_shape that needs a negative begin pad");
                        }
                    }
                    pads
                }
                _ if auto_pad == "VALID" => vec![0; 2 * spatial],
                _ => a.ints("pads")?.unwrap_or_else(|| vec![0; 2 * spatial]),
            };
            out.push(("group", Attr::Int(a.int("group", 1)?)));
            out.push(("output_padding", Attr::Ints(output_padding)));
            out.push(("pads", Attr::Ints(pads)));
            let inputs = vec![Some(x), w, b.input(2)];
            b.simple("conv_transpose", attrs(out), inputs)
        }
        _ => {
            let pads = auto_pads(
                &auto_pad,
                &xinfo.shape[2..],
                &kernel,
                &strides,
                &dilations,
                a.ints("pads")?,
            )?;
            out.push(("pads", Attr::Ints(pads)));
            match op {
                "Conv" => {
                    out.push(("group", Attr::Int(a.int("group", 1)?)));
                    let inputs = vec![Some(x), w, b.input(2)];
                    b.simple("conv", attrs(out), inputs)
                }
                "MaxPool" => {
                    out.push((
                        "ceil_mode",
                        Attr::Int(if opset >= 10 { a.int("ceil_mode", 0)? } else { 0 }),
                    ));
                    out.push(("storage_order", Attr::Int(a.int("storage_order", 0)?)));
                    let outputs = vec![b.output(0), b.output(1)];
                    b.push("max_pool", attrs(out), vec![Some(x)], outputs);
                    Ok(())
                }
                _ => {
                    out.push(("ceil_mode", Attr::Int(a.int("ceil_mode", 0)?)));
                    out.push(("count_include_pad", Attr::Int(a.int("count_include_pad", 0)?)));
                    b.simple("average_pool", attrs(out), vec![Some(x)])
                }
            }
        }
    }
}

fn resize(b: &mut Builder, opset: i64) -> Result<(), NormError> {
    let node = b.node;
    let a = OnnxAttrs::new(
        node,
        &[
            "antialias",
            "axes",
            "coordinate_transformation_mode",
            "cubic_coeff_a",
            "exclude_outside",
            "extrapolation_value",
            "keep_aspect_ratio_policy",
            "mode",
            "nearest_mode",
            "scales",
            "height_scale",
            "width_scale",
        ],
    )?;
    let x = b.required(0)?;
    let mode = a.string("mode", "nearest")?;
    // Upsample (opset 7-9) also says bilinear or trilinear for linear.
    if !["nearest", "linear", "cubic", "bilinear", "trilinear"].contains(&mode.as_str()) {
        return malformed(format!("mode '{mode}' (nearest, linear or cubic)"));
    }
    let legacy = node.op_type == "Upsample" || opset < 11;
    let (roi, mut scales, mut sizes) = if node.op_type == "Upsample" {
        let s = match (a.floats("scales")?, b.input(1)) {
            (Some(s), _) => Operand::Const(Tensor::f32(&[s.len()], s)),
            (None, Some(s)) => s,
            _ => return unsupported("Upsample without scales"),
        };
        (None, Some(s), None)
    } else if opset < 11 {
        (None, Some(b.required(1)?), None)
    } else {
        (b.input(1), b.input(2), b.input(3))
    };
    // Empty tensors stand for absent inputs in opsets 11-12.
    let empty = |b: &Builder, o: &Option<Operand>| {
        o.as_ref()
            .and_then(|o| b.info_of(o))
            .is_some_and(|i| i.shape.first() == Some(&Some(0)))
    };
    if empty(b, &scales) {
        scales = None;
    }
    if empty(b, &sizes) {
        sizes = None;
    }
    let mut roi = if empty(b, &roi) { None } else { roi };
    // keep_aspect_ratio_policy (opset 18) with sizes: one scale for the named axes, the
    // smallest (not_larger) or largest (not_smaller) of sizes / input dims; the sizes become
    // floor(scale * dim + 0.5). Computed with graph ops, since sizes may be known only at run
    // time; the resize then gets both (sizes fix the output, scales the coordinates).
    let policy = a.string("keep_aspect_ratio_policy", "stretch")?;
    if policy != "stretch"
        && let Some(s) = sizes.take()
    {
        let reduce = match policy.as_str() {
            "not_larger" => "reduce_min",
            "not_smaller" => "reduce_max",
            other => return malformed(format!("keep_aspect_ratio_policy '{other}'")),
        };
        let rank = b.rank_of(&x)?;
        let axes: Vec<i64> = a
            .ints("axes")?
            .map(|v| v.iter().map(|&a| if a < 0 { a + rank as i64 } else { a }).collect())
            .unwrap_or_else(|| (0..rank as i64).collect());
        let k = axes.len();
        let to = |d: DType| attrs(vec![("saturate", Attr::Int(1)), ("to", Attr::Int(d.onnx_code()))]);
        let shape = b.push_temp(
            "shape",
            attrs(vec![("end", Attr::Int(rank as i64)), ("start", Attr::Int(0))]),
            vec![Some(x.clone())],
        );
        let dims = b.push_temp(
            "gather",
            attrs(vec![("axis", Attr::Int(0))]),
            vec![Some(shape.clone()), Some(i64s(&axes))],
        );
        let dims_f = b.push_temp("cast", to(DType::F32), vec![Some(dims)]);
        let sizes_f = b.push_temp("cast", to(DType::F32), vec![Some(s)]);
        let ratios = b.push_temp("div", Attrs::default(), vec![Some(sizes_f), Some(dims_f.clone())]);
        let scale = b.push_temp(
            reduce,
            attrs(vec![("keepdims", Attr::Int(1)), ("noop_with_empty_axes", Attr::Int(0))]),
            vec![Some(ratios), None],
        );
        let scaled = b.push_temp("mul", Attrs::default(), vec![Some(scale.clone()), Some(dims_f)]);
        let rounded = b.push_temp(
            "add",
            Attrs::default(),
            vec![Some(scaled), Some(Operand::Const(Tensor::f32(&[1], vec![0.5])))],
        );
        let floored = b.push_temp("floor", Attrs::default(), vec![Some(rounded)]);
        let new_sizes = b.push_temp("cast", to(DType::I64), vec![Some(floored)]);
        let indices = Operand::Const(Tensor::i64(&[k, 1], axes.clone()));
        let none = attrs(vec![("reduction", Attr::Str("none".into()))]);
        sizes = Some(b.push_temp(
            "scatter_nd",
            none.clone(),
            vec![Some(shape), Some(indices.clone()), Some(new_sizes)],
        ));
        let scale_k = b.push_temp("expand", Attrs::default(), vec![Some(scale), Some(i64s(&[k as i64]))]);
        let ones = Operand::Const(Tensor::f32(&[rank], vec![1.0; rank]));
        scales = Some(b.push_temp("scatter_nd", none, vec![Some(ones), Some(indices), Some(scale_k)]));
        return finish_resize(b, a, x, roi, scales, sizes, legacy, mode);
    }
    // `axes` (opset 18): scales/sizes cover only those axes; expand to every axis.
    if let Some(axes) = a.ints("axes")? {
        let rank = b.rank_of(&x)?;
        let axes: Vec<usize> = axes
            .iter()
            .map(|&v| if v < 0 { (v + rank as i64) as usize } else { v as usize })
            .collect();
        // Full-rank scales/sizes: the given values scattered over ones (scales) or the
        // input's shape (sizes) at `axes`; the importer folds this when it is constant.
        let indices = Operand::Const(Tensor::i64(&[axes.len(), 1], axes.iter().map(|&a| a as i64).collect()));
        let none = attrs(vec![("reduction", Attr::Str("none".into()))]);
        if let Some(s) = scales.take() {
            let ones = Operand::Const(Tensor::f32(&[rank], vec![1.0; rank]));
            scales = Some(b.push_temp(
                "scatter_nd",
                none.clone(),
                vec![Some(ones), Some(indices.clone()), Some(s)],
            ));
        }
        if let Some(s) = sizes.take() {
            let shape = b.push_temp(
                "shape",
                attrs(vec![("end", Attr::Int(rank as i64)), ("start", Attr::Int(0))]),
                vec![Some(x.clone())],
            );
            sizes = Some(b.push_temp("scatter_nd", none.clone(), vec![Some(shape), Some(indices), Some(s)]));
        }
        if let Some(r) = roi.take() {
            // roi is [starts..., ends...] over `axes`: scatter into [0...0, 1...1].
            let base: Vec<f32> = (0..2 * rank).map(|i| if i < rank { 0.0 } else { 1.0 }).collect();
            let positions: Vec<i64> = axes
                .iter()
                .map(|&a| a as i64)
                .chain(axes.iter().map(|&a| (a + rank) as i64))
                .collect();
            let indices = Operand::Const(Tensor::i64(&[positions.len(), 1], positions));
            let dtype = b.info_of(&r).map(|i| i.dtype).unwrap_or(DType::F32);
            let base = Operand::Const(Tensor::f32(&[2 * rank], base).cast(dtype));
            roi = Some(b.push_temp("scatter_nd", none, vec![Some(base), Some(indices), Some(r)]));
        }
    }
    finish_resize(b, a, x, roi, scales, sizes, legacy, mode)
}

/// Emits the normalized resize once scales, sizes and roi are full-rank.
#[allow(clippy::too_many_arguments)]
fn finish_resize(
    b: &mut Builder,
    a: OnnxAttrs,
    x: Operand,
    roi: Option<Operand>,
    scales: Option<Operand>,
    sizes: Option<Operand>,
    legacy: bool,
    mode: String,
) -> Result<(), NormError> {
    let (ctm, nearest) = if legacy {
        ("asymmetric".to_string(), "floor".to_string())
    } else {
        (
            a.string("coordinate_transformation_mode", "half_pixel")?,
            a.string("nearest_mode", "round_prefer_floor")?,
        )
    };
    let mode = if mode == "bilinear" || mode == "trilinear" {
        "linear".to_string()
    } else {
        mode
    };
    let roi = if ctm == "tf_crop_and_resize" { roi } else { None };
    let out = vec![
        ("antialias", Attr::Int(a.int("antialias", 0)?)),
        ("coordinate_transformation_mode", Attr::Str(ctm)),
        ("cubic_coeff_a", Attr::Float(a.float("cubic_coeff_a", -0.75)?)),
        ("exclude_outside", Attr::Int(a.int("exclude_outside", 0)?)),
        ("extrapolation_value", Attr::Float(a.float("extrapolation_value", 0.0)?)),
        // The policy has been applied above: what remains is a plain stretch.
        ("keep_aspect_ratio_policy", Attr::Str("stretch".into())),
        ("mode", Attr::Str(mode)),
        ("nearest_mode", Attr::Str(nearest)),
    ];
    b.simple("resize", attrs(out), vec![Some(x), roi, scales, sizes])
}

/// The ops of a graph that the normalizer rejects outright, for `fuser check`.
pub fn unsupported_ops<'g>(nodes: impl IntoIterator<Item = &'g Node>) -> BTreeSet<(String, String)> {
    nodes
        .into_iter()
        .filter(|n| !(n.domain.is_empty() || n.domain == "ai.onnx") || !SUPPORTED_OPS.contains(&n.op_type.as_str()))
        .map(|n| (n.domain.clone(), n.op_type.clone()))
        .collect()
}
