//! ONNX models: the protobuf (through the onnx-protobuf crate) to the neutral graph.

mod tensor;
mod write;

pub use tensor::{dtype_of, initializer_from_proto, tensor_from_proto};
pub use write::model_bytes;

use crate::{
    error::ImportError,
    model::{AttrValue, Graph, Node, ValueDecl},
};
use onnx_protobuf::{Message, ModelProto, ValueInfoProto, attribute_proto::AttributeType};
use std::path::Path;

/// The newest default-domain opset fuser knows (that of onnx 1.23).
pub const MAX_OPSET: i64 = 28;
/// The oldest default-domain opset fuser imports.
pub const MIN_OPSET: i64 = 6;

/// Reads and parses an ONNX file. External data is resolved relative to the file.
pub fn load_model(path: &Path) -> Result<Graph, ImportError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ImportError::file(&file, format!("cannot read: {e}")))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse_model(&bytes, &file, base)
}

/// Parses ONNX bytes; `file` names the model in errors and `base` locates external data.
pub fn parse_model(bytes: &[u8], file: &str, base: &Path) -> Result<Graph, ImportError> {
    let model = ModelProto::parse_from_bytes(bytes)
        .map_err(|e| ImportError::file(file, format!("not a valid ONNX model: {e}")))?;
    if model.ir_version < 3 {
        return Err(ImportError::file(file, format!("IR version {} is older than 3", model.ir_version)).unsupported());
    }
    // Other domains are fine until a node uses them; the normalizer rejects such nodes.
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version);
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| ImportError::file(file, "the model has no graph"))?;
    let uses_default_domain = graph.node.iter().any(|n| n.domain.is_empty() || n.domain == "ai.onnx");
    let opset = match opset {
        Some(v) => v,
        // Only other domains' nodes: each is rejected by the normalizer, with its name.
        None if !uses_default_domain => MAX_OPSET,
        None => return Err(ImportError::file(file, "the model imports no default-domain opset")),
    };
    if !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
        return Err(ImportError::file(
            file,
            format!("opset {opset} is outside the supported range {MIN_OPSET}..={MAX_OPSET}"),
        )
        .unsupported());
    }
    let mut initializers = Vec::new();
    for t in &graph.initializer {
        initializers.push(
            initializer_from_proto(t, base)
                .map_err(|m| ImportError::file(file, format!("initializer '{}': {m}", t.name)))?,
        );
    }
    let initializer_names: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut inputs = Vec::new();
    for v in &graph.input {
        // Before IR 4, initializers were also listed as inputs: they are weights.
        if !initializer_names.contains(v.name.as_str()) {
            inputs.push(value_decl(v, file)?);
        }
    }
    let outputs = graph
        .output
        .iter()
        .map(|v| value_decl(v, file))
        .collect::<Result<_, _>>()?;
    let mut nodes = Vec::new();
    for (index, n) in graph.node.iter().enumerate() {
        let name = if n.name.is_empty() {
            format!("{}_{index}", n.op_type)
        } else {
            n.name.clone()
        };
        let mut attrs = std::collections::BTreeMap::new();
        for a in &n.attribute {
            let value = attr_value(a, base)
                .map_err(|m| ImportError::node(file, &name, &n.op_type, format!("attribute '{}': {m}", a.name)))?;
            attrs.insert(a.name.clone(), value);
        }
        nodes.push(Node {
            name,
            op_type: n.op_type.clone(),
            domain: n.domain.clone(),
            inputs: n.input.clone(),
            outputs: n.output.clone(),
            attrs,
        });
    }
    Ok(Graph {
        name: graph.name.clone(),
        inputs,
        outputs,
        nodes,
        initializers,
        opset,
    })
}

fn value_decl(v: &ValueInfoProto, file: &str) -> Result<ValueDecl, ImportError> {
    let Some(t) = v.type_.as_ref() else {
        return Ok(ValueDecl {
            name: v.name.clone(),
            dtype: None,
            shape: None,
        });
    };
    if !t.has_tensor_type() {
        return Err(ImportError::file(
            file,
            format!(
                "value '{}' is not a tensor (sequences, maps and optionals are not supported)",
                v.name
            ),
        )
        .unsupported());
    }
    let tt = t.tensor_type();
    let dtype = if tt.elem_type == 0 {
        None
    } else {
        Some(
            dtype_of(tt.elem_type)
                .map_err(|m| ImportError::file(file, format!("value '{}': {m}", v.name)).unsupported())?,
        )
    };
    let shape = tt
        .shape
        .as_ref()
        .map(|s| s.dim.iter().map(|d| d.has_dim_value().then(|| d.dim_value())).collect());
    Ok(ValueDecl {
        name: v.name.clone(),
        dtype,
        shape,
    })
}

fn attr_value(a: &onnx_protobuf::AttributeProto, base: &Path) -> Result<AttrValue, String> {
    let kind = a
        .type_
        .enum_value()
        .map_err(|v| format!("unknown attribute type {v}"))?;
    Ok(match kind {
        AttributeType::INT => AttrValue::Int(a.i),
        AttributeType::FLOAT => AttrValue::Float(a.f),
        AttributeType::INTS => AttrValue::Ints(a.ints.clone()),
        AttributeType::FLOATS => AttrValue::Floats(a.floats.clone()),
        AttributeType::STRING => AttrValue::Str(String::from_utf8_lossy(&a.s).into_owned()),
        AttributeType::STRINGS => AttrValue::Strs(
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        ),
        AttributeType::TENSOR => AttrValue::Tensor(tensor_from_proto(
            a.t.as_ref().ok_or("a tensor attribute without a tensor")?,
            base,
        )?),
        AttributeType::GRAPH | AttributeType::GRAPHS => AttrValue::Other("graph"),
        AttributeType::SPARSE_TENSOR | AttributeType::SPARSE_TENSORS => AttrValue::Other("sparse tensor"),
        AttributeType::TYPE_PROTO | AttributeType::TYPE_PROTOS => AttrValue::Other("type"),
        AttributeType::TENSORS => AttrValue::Other("tensor list"),
        AttributeType::UNDEFINED => AttrValue::Other("undefined"),
    })
}

/// Reads a serialized TensorProto (`input_0.pb` in ONNX test data).
pub fn read_tensor_file(path: &Path) -> Result<fuser_dialects::semantics::Tensor, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read '{}': {e}", path.display()))?;
    let proto = onnx_protobuf::TensorProto::parse_from_bytes(&bytes)
        .map_err(|e| format!("'{}' is not a TensorProto: {e}", path.display()))?;
    tensor_from_proto(&proto, path.parent().unwrap_or(Path::new(".")))
}
