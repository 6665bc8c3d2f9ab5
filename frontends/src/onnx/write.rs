//! The neutral graph to an ONNX ModelProto (through the onnx-protobuf crate): the inverse
//! of `parse_model`. Initializers are written as raw little-endian data, inline.

use crate::model::{AttrValue, Graph, Initializer, ValueDecl};
use onnx_protobuf::{
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto,
    TypeProto, ValueInfoProto, attribute_proto::AttributeType, tensor_shape_proto::Dimension, type_proto,
};

/// The IR version that goes with a default-domain opset: the oldest that allows it
/// (onnx's release table: opset 21 and 22 came with IR 10, 23 with 11, 24 with 12, 25
/// to 27 with 13, 28 with 14).
fn ir_version(opset: i64) -> i64 {
    match opset {
        ..=20 => 9,
        21 | 22 => 10,
        23 => 11,
        24 => 12,
        25..=27 => 13,
        _ => 14,
    }
}

fn tensor_proto(initializer: &Initializer) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = initializer.name.clone();
    t.data_type = initializer.dtype.onnx_code() as i32;
    t.dims = initializer.shape.iter().map(|&d| d as i64).collect();
    t.raw_data = initializer.bytes.clone();
    t
}

fn value_info(decl: &ValueDecl) -> ValueInfoProto {
    let mut v = ValueInfoProto::new();
    v.name = decl.name.clone();
    let mut tensor = type_proto::Tensor::new();
    tensor.elem_type = decl.dtype.map_or(0, |d| d.onnx_code() as i32);
    if let Some(dims) = &decl.shape {
        let mut shape = TensorShapeProto::new();
        for dim in dims {
            let mut d = Dimension::new();
            // A dynamic dim is left without a value: any size.
            if let Some(size) = dim {
                d.set_dim_value(*size);
            }
            shape.dim.push(d);
        }
        tensor.shape = Some(shape).into();
    }
    let mut ty = TypeProto::new();
    ty.set_tensor_type(tensor);
    v.type_ = Some(ty).into();
    v
}

fn attribute_proto(name: &str, value: &AttrValue) -> Result<AttributeProto, String> {
    let mut a = AttributeProto::new();
    a.name = name.to_string();
    let kind = match value {
        AttrValue::Int(v) => {
            a.i = *v;
            AttributeType::INT
        }
        AttrValue::Float(v) => {
            a.f = *v;
            AttributeType::FLOAT
        }
        AttrValue::Ints(v) => {
            a.ints = v.clone();
            AttributeType::INTS
        }
        AttrValue::Floats(v) => {
            a.floats = v.clone();
            AttributeType::FLOATS
        }
        AttrValue::Str(v) => {
            a.s = v.as_bytes().to_vec();
            AttributeType::STRING
        }
        AttrValue::Strs(v) => {
            a.strings = v.iter().map(|s| s.as_bytes().to_vec()).collect();
            AttributeType::STRINGS
        }
        AttrValue::Tensor(t) => {
            let initializer = Initializer {
                name: String::new(),
                dtype: t.dtype,
                shape: t.shape().to_vec(),
                bytes: fuser_dialects::constants::tensor_bytes(t),
            };
            a.t = Some(tensor_proto(&initializer)).into();
            AttributeType::TENSOR
        }
        AttrValue::Other(kind) => return Err(format!("attribute '{name}': a {kind} cannot be written")),
    };
    a.type_ = kind.into();
    Ok(a)
}

/// The serialized ModelProto of `graph`, naming `producer` as its producer.
pub fn model_bytes(graph: &Graph, producer: &str) -> Result<Vec<u8>, String> {
    let mut g = GraphProto::new();
    g.name = graph.name.clone();
    g.input = graph.inputs.iter().map(value_info).collect();
    g.output = graph.outputs.iter().map(value_info).collect();
    g.initializer = graph.initializers.iter().map(tensor_proto).collect();
    for node in &graph.nodes {
        let mut n = NodeProto::new();
        n.name = node.name.clone();
        n.op_type = node.op_type.clone();
        n.domain = node.domain.clone();
        n.input = node.inputs.clone();
        n.output = node.outputs.clone();
        for (name, value) in &node.attrs {
            n.attribute
                .push(attribute_proto(name, value).map_err(|m| format!("node '{}': {m}", node.name))?);
        }
        g.node.push(n);
    }
    let mut opset = OperatorSetIdProto::new();
    opset.version = graph.opset;
    let mut model = ModelProto::new();
    model.ir_version = ir_version(graph.opset);
    model.opset_import.push(opset);
    model.producer_name = producer.to_string();
    model.producer_version = env!("CARGO_PKG_VERSION").to_string();
    model.graph = Some(g).into();
    model
        .write_to_bytes()
        .map_err(|e| format!("cannot serialize the model: {e}"))
}
