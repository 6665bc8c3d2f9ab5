//! The JSON graph format (docs/json-graph.md, schema docs/json-graph.schema.json):
//! ONNX's graph structure, op names and attribute names, written as JSON. Weights are
//! inline or `.npy` files next to the JSON file.

use crate::{
    error::ImportError,
    model::{AttrValue, Graph, Initializer, Node, ValueDecl},
    onnx::{MAX_OPSET, MIN_OPSET},
};
use fuser_dialects::{
    constants::tensor_bytes,
    semantics::{DType, Tensor},
};
use ndarray::{ArrayD, IxDyn};
use serde_json::{Map, Value};
use std::{collections::BTreeMap, path::Path};

/// The dtype names of the format (ONNX's, lowercase).
pub fn dtype_from_name(name: &str) -> Option<DType> {
    Some(match name {
        "float32" => DType::F32,
        "float64" => DType::F64,
        "float16" => DType::F16,
        "bfloat16" => DType::BF16,
        "int8" => DType::I8,
        "uint8" => DType::U8,
        "int32" => DType::I32,
        "int64" => DType::I64,
        "bool" => DType::Bool,
        _ => return None,
    })
}

struct Reader<'f> {
    file: &'f str,
    base: &'f Path,
}

impl Reader<'_> {
    fn err(&self, at: &str, message: impl Into<String>) -> ImportError {
        ImportError::file(self.file, format!("{at}: {}", message.into()))
    }

    fn object<'v>(&self, v: &'v Value, at: &str) -> Result<&'v Map<String, Value>, ImportError> {
        v.as_object().ok_or_else(|| self.err(at, "must be an object"))
    }

    fn string<'v>(&self, o: &'v Map<String, Value>, key: &str, at: &str) -> Result<&'v str, ImportError> {
        o.get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| self.err(at, format!("'{key}' must be a string")))
    }

    fn strings(&self, o: &Map<String, Value>, key: &str, at: &str) -> Result<Vec<String>, ImportError> {
        match o.get(key) {
            None => Ok(vec![]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.err(at, format!("'{key}' must hold strings")))
                })
                .collect(),
            Some(_) => Err(self.err(at, format!("'{key}' must be a list of strings"))),
        }
    }

    fn dtype(&self, o: &Map<String, Value>, at: &str) -> Result<DType, ImportError> {
        let name = self.string(o, "dtype", at)?;
        dtype_from_name(name).ok_or_else(|| self.err(at, format!("unknown dtype '{name}'")).unsupported())
    }

    fn shape(&self, o: &Map<String, Value>, at: &str) -> Result<Option<Vec<Option<i64>>>, ImportError> {
        match o.get("shape") {
            None => Ok(None),
            Some(Value::Array(dims)) => dims
                .iter()
                .map(|d| match d {
                    Value::Number(n) => n
                        .as_i64()
                        .filter(|&v| v >= 0)
                        .map(Some)
                        .ok_or_else(|| self.err(at, "dims must be non-negative integers")),
                    Value::Null | Value::String(_) => Ok(None),
                    _ => Err(self.err(at, "a dim is an integer, null or a name")),
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(_) => Err(self.err(at, "'shape' must be a list")),
        }
    }

    fn value_decl(&self, v: &Value, at: &str) -> Result<ValueDecl, ImportError> {
        let o = self.object(v, at)?;
        let dtype = if o.contains_key("dtype") {
            Some(self.dtype(o, at)?)
        } else {
            None
        };
        Ok(ValueDecl {
            name: self.string(o, "name", at)?.to_string(),
            dtype,
            shape: self.shape(o, at)?,
        })
    }

    /// A tensor written as {"dtype", "shape", "data"} (data flat, row-major) or {"npy"}.
    fn tensor(&self, v: &Value, at: &str) -> Result<Tensor, ImportError> {
        let o = self.object(v, at)?;
        if let Some(path) = o.get("npy") {
            let path = path.as_str().ok_or_else(|| self.err(at, "'npy' must be a path"))?;
            if Path::new(path).is_absolute() || path.contains("..") {
                return Err(self.err(
                    at,
                    format!("'npy' path '{path}' must be relative and inside the graph's folder"),
                ));
            }
            return crate::npy::read(&self.base.join(path)).map_err(|e| self.err(at, e));
        }
        let dtype = self.dtype(o, at)?;
        let shape: Vec<usize> = self
            .shape(o, at)?
            .ok_or_else(|| self.err(at, "a tensor needs 'shape'"))?
            .into_iter()
            .map(|d| {
                d.map(|d| d as usize)
                    .ok_or_else(|| self.err(at, "a tensor's shape is static"))
            })
            .collect::<Result<_, _>>()?;
        let data = o
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| self.err(at, "a tensor needs 'data' (a flat list) or 'npy'"))?;
        let count: usize = shape.iter().product();
        if data.len() != count {
            return Err(self.err(
                at,
                format!("'data' has {} values for shape {shape:?} ({count})", data.len()),
            ));
        }
        let dims = IxDyn(&shape);
        let number = |v: &Value| {
            v.as_f64()
                .or_else(|| v.as_bool().map(|b| if b { 1.0 } else { 0.0 }))
                .ok_or_else(|| self.err(at, "'data' must hold numbers"))
        };
        Ok(match dtype {
            d if d.is_float() => Tensor::float(
                d,
                ArrayD::from_shape_vec(dims, data.iter().map(number).collect::<Result<_, _>>()?).expect("count"),
            ),
            DType::Bool => Tensor::bool(
                ArrayD::from_shape_vec(
                    dims,
                    data.iter()
                        .map(|v| number(v).map(|x| x != 0.0))
                        .collect::<Result<_, _>>()?,
                )
                .expect("count"),
            ),
            d => Tensor::int(
                d,
                ArrayD::from_shape_vec(
                    dims,
                    data.iter()
                        .map(|v| {
                            v.as_i64()
                                .ok_or_else(|| self.err(at, "integer 'data' must hold integers"))
                        })
                        .collect::<Result<_, _>>()?,
                )
                .expect("count"),
            ),
        })
    }

    fn attr(&self, v: &Value, at: &str) -> Result<AttrValue, ImportError> {
        Ok(match v {
            Value::Number(n) if n.is_i64() => AttrValue::Int(n.as_i64().expect("i64")),
            Value::Number(n) => AttrValue::Float(n.as_f64().ok_or_else(|| self.err(at, "bad number"))? as f32),
            Value::String(s) => AttrValue::Str(s.clone()),
            Value::Array(items) if items.iter().all(|i| i.is_i64()) => {
                AttrValue::Ints(items.iter().map(|i| i.as_i64().expect("i64")).collect())
            }
            Value::Array(items) if items.iter().all(Value::is_number) => {
                AttrValue::Floats(items.iter().map(|i| i.as_f64().expect("number") as f32).collect())
            }
            Value::Array(items) if items.iter().all(Value::is_string) => {
                AttrValue::Strs(items.iter().map(|i| i.as_str().expect("string").to_string()).collect())
            }
            Value::Object(_) => AttrValue::Tensor(self.tensor(v, at)?),
            _ => return Err(self.err(at, "an attribute is a number, string, list or tensor")),
        })
    }
}

/// Parses a JSON graph; `file` names it in errors and `base` locates `.npy` weights.
pub fn parse_graph(text: &str, file: &str, base: &Path) -> Result<Graph, ImportError> {
    let root: Value =
        serde_json::from_str(text).map_err(|e| ImportError::file(file, format!("not valid JSON: {e}")))?;
    let r = Reader { file, base };
    let o = r.object(&root, "the document")?;
    match o.get("format").and_then(Value::as_str) {
        Some("fuser-graph") => {}
        _ => return Err(r.err("the document", "'format' must be \"fuser-graph\"")),
    }
    if o.get("version").and_then(Value::as_i64) != Some(1) {
        return Err(r.err("the document", "'version' must be 1"));
    }
    let opset = o
        .get("opset")
        .and_then(Value::as_i64)
        .ok_or_else(|| r.err("the document", "'opset' must be an integer"))?;
    if !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
        return Err(r
            .err(
                "the document",
                format!("opset {opset} is outside the supported range {MIN_OPSET}..={MAX_OPSET}"),
            )
            .unsupported());
    }
    let list = |key: &str| -> Result<&Vec<Value>, ImportError> {
        match o.get(key) {
            Some(Value::Array(a)) => Ok(a),
            _ => Err(r.err("the document", format!("'{key}' must be a list"))),
        }
    };
    let inputs = list("inputs")?
        .iter()
        .enumerate()
        .map(|(i, v)| r.value_decl(v, &format!("inputs[{i}]")))
        .collect::<Result<_, _>>()?;
    let outputs = list("outputs")?
        .iter()
        .enumerate()
        .map(|(i, v)| r.value_decl(v, &format!("outputs[{i}]")))
        .collect::<Result<_, _>>()?;
    let mut initializers = Vec::new();
    if o.contains_key("weights") {
        for (i, w) in list("weights")?.iter().enumerate() {
            let at = format!("weights[{i}]");
            let name = r.string(r.object(w, &at)?, "name", &at)?.to_string();
            let tensor = r.tensor(w, &format!("weight '{name}'"))?;
            initializers.push(Initializer {
                name,
                dtype: tensor.dtype,
                shape: tensor.shape().to_vec(),
                bytes: tensor_bytes(&tensor),
            });
        }
    }
    let mut nodes = Vec::new();
    for (i, n) in list("nodes")?.iter().enumerate() {
        let at = format!("nodes[{i}]");
        let no = r.object(n, &at)?;
        let op = r.string(no, "op", &at)?.to_string();
        let name = no
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{op}_{i}"));
        let mut attrs = BTreeMap::new();
        if let Some(a) = no.get("attrs") {
            for (k, v) in r.object(a, &format!("node '{name}' attrs"))? {
                attrs.insert(k.clone(), r.attr(v, &format!("node '{name}' attribute '{k}'"))?);
            }
        }
        nodes.push(Node {
            name: name.clone(),
            op_type: op,
            domain: no.get("domain").and_then(Value::as_str).unwrap_or("").to_string(),
            inputs: r.strings(no, "inputs", &format!("node '{name}'"))?,
            outputs: r.strings(no, "outputs", &format!("node '{name}'"))?,
            attrs,
        });
    }
    Ok(Graph {
        name: o.get("name").and_then(Value::as_str).unwrap_or("main").to_string(),
        inputs,
        outputs,
        nodes,
        initializers,
        opset,
    })
}

/// Reads a JSON graph file.
pub fn load_graph(path: &Path) -> Result<Graph, ImportError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ImportError::file(&file, format!("cannot read: {e}")))?;
    parse_graph(&text, &file, path.parent().unwrap_or(Path::new(".")))
}
