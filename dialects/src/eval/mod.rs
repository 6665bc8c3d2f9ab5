//! The reference evaluator over MLIR: runs a `func.func` of graph ops (and `func.call`s
//! of kernels) op by op with the semantics in `crate::semantics`, the oracle that passes
//! and rewrites are checked against on random inputs.

mod cann;

use crate::semantics::{self, Attr, Attrs, SemError};
pub use crate::semantics::{DType, Tensor};
use crate::{
    accessors::{op_name, operand_group},
    ffi::value_key,
    ffi::{dense_to_tensor, nested_operations},
    spec::{AttrKind, find_op},
};
use melior::ir::{
    BlockLike, OperationRef, RegionLike, Value, ValueLike,
    attribute::{DenseI64ArrayAttribute, FloatAttribute, IntegerAttribute, StringAttribute},
    operation::OperationLike,
};
use std::collections::HashMap;

/// Why a function could not be evaluated.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EvalError {
    #[error("the reference evaluator does not support {0}")]
    Unsupported(String),
    #[error("'{op}': {message}")]
    Invalid { op: String, message: String },
    #[error("the function takes {expected} inputs, {got} were given")]
    InputCount { expected: usize, got: usize },
    #[error("no function named '{0}'")]
    NoFunction(String),
    #[error("no data for weight '{0}'")]
    MissingWeight(String),
    /// An error of the op at `location` (the node name for imported models).
    #[error("{location}: {error}")]
    At { location: String, error: Box<EvalError> },
}

impl EvalError {
    /// The error itself, without the locations around it.
    pub fn root(&self) -> &EvalError {
        match self {
            EvalError::At { error, .. } => error.root(),
            other => other,
        }
    }
}

/// Where an op is, for errors: its node name (imported models carry one), else its file
/// position.
fn describe(op: &OperationRef) -> String {
    describe_location(op.location()).unwrap_or_else(|| op_name(op))
}

/// A node name (`node 'conv1'`) or file position (`f.mlir:3:5`) for `location`, if it
/// has either.
pub fn describe_location(location: melior::ir::Location) -> Option<String> {
    if let Some(name) = crate::ffi::location_name(location) {
        return Some(format!("node '{name}'"));
    }
    if location.is_file_line_col_range() {
        return Some(format!(
            "{}:{}:{}",
            crate::ffi::string_ref_text(location.file_line_col_range_filename().as_string_ref()),
            location.file_line_col_range_start_line(),
            location.file_line_col_range_start_column()
        ));
    }
    None
}

/// Weight data by `graph.weight` name.
pub type Weights = HashMap<String, Tensor>;

/// The semantics-level attributes of a graph op, read by its declared kinds.
pub fn op_attrs(op: &OperationRef) -> Result<Attrs, EvalError> {
    let name = op_name(op);
    let spec = find_op(&name).ok_or_else(|| EvalError::Unsupported(name.clone()))?;
    let mut attrs = Attrs::default();
    for declared in spec.attributes {
        let attribute = op.attribute(declared.name).map_err(|_| EvalError::Invalid {
            op: name.clone(),
            message: format!("missing attribute '{}'", declared.name),
        })?;
        let bad = || EvalError::Invalid {
            op: name.clone(),
            message: format!("attribute '{}' has the wrong kind", declared.name),
        };
        let value = match declared.kind {
            AttrKind::I64Array => {
                let a = DenseI64ArrayAttribute::try_from(attribute).map_err(|_| bad())?;
                Attr::Ints((0..a.len()).filter_map(|i| a.element(i).ok()).collect())
            }
            AttrKind::Integer => Attr::Int(IntegerAttribute::try_from(attribute).map_err(|_| bad())?.value()),
            AttrKind::Float => Attr::Float(FloatAttribute::try_from(attribute).map_err(|_| bad())?.value()),
            AttrKind::String => Attr::Str(crate::ffi::string_value(
                StringAttribute::try_from(attribute).map_err(|_| bad())?,
            )),
            AttrKind::DenseElements => Attr::Tensor(
                dense_to_tensor(attribute).ok_or_else(|| EvalError::Unsupported(format!("the value of '{name}'")))?,
            ),
            AttrKind::SymbolRef | AttrKind::Array => continue,
        };
        attrs.set(declared.name, value);
    }
    Ok(attrs)
}

/// Finds the `func.func` named `name` under `module_op`.
pub fn find_function<'c, 'a>(module_op: OperationRef<'c, 'a>, name: &str) -> Option<OperationRef<'c, 'a>> {
    nested_operations(module_op).into_iter().find(|op| {
        op_name(op) == "func.func"
            && op
                .attribute("sym_name")
                .ok()
                .and_then(|a| StringAttribute::try_from(a).ok())
                .is_some_and(|s| crate::ffi::string_value(s) == name)
    })
}

/// Evaluates the `func.func` named `name` in `module_op` on `inputs`.
pub fn evaluate(module_op: OperationRef, name: &str, inputs: &[Tensor]) -> Result<Vec<Tensor>, EvalError> {
    evaluate_with_weights(module_op, name, inputs, &Weights::new())
}

/// Like [`evaluate`], with the data of `graph.weight` ops.
pub fn evaluate_with_weights(
    module_op: OperationRef,
    name: &str,
    inputs: &[Tensor],
    weights: &Weights,
) -> Result<Vec<Tensor>, EvalError> {
    let function = find_function(module_op, name).ok_or_else(|| EvalError::NoFunction(name.to_string()))?;
    Evaluator {
        module_op,
        weights,
        observer: None,
    }
    .function(function, inputs)
}

/// Sees each graph or quantization op with its operand values (per IRDL slot) as the
/// evaluator runs it: calibration collects activation statistics this way.
pub type Observer<'o> = dyn FnMut(&OperationRef, &[Option<Tensor>]) + 'o;

/// Like [`evaluate_with_weights`], calling `observer` before each graph op runs.
pub fn evaluate_observed(
    module_op: OperationRef,
    name: &str,
    inputs: &[Tensor],
    weights: &Weights,
    observer: &mut Observer,
) -> Result<Vec<Tensor>, EvalError> {
    let function = find_function(module_op, name).ok_or_else(|| EvalError::NoFunction(name.to_string()))?;
    Evaluator {
        module_op,
        weights,
        observer: Some(std::cell::RefCell::new(observer)),
    }
    .function(function, inputs)
}

struct Evaluator<'m, 'o, 'c, 'a> {
    module_op: OperationRef<'c, 'a>,
    weights: &'m Weights,
    observer: Option<std::cell::RefCell<&'o mut Observer<'o>>>,
}

impl Evaluator<'_, '_, '_, '_> {
    fn function(&self, function: OperationRef, inputs: &[Tensor]) -> Result<Vec<Tensor>, EvalError> {
        let region = function
            .region(0)
            .map_err(|_| EvalError::Unsupported("a function without a body".into()))?;
        let block = region
            .first_block()
            .ok_or_else(|| EvalError::Unsupported("a function without a body".into()))?;
        if block.argument_count() != inputs.len() {
            return Err(EvalError::InputCount {
                expected: block.argument_count(),
                got: inputs.len(),
            });
        }
        let mut env: HashMap<usize, Tensor> = HashMap::new();
        for (i, input) in inputs.iter().enumerate() {
            env.insert(
                value_key(block.argument(i).expect("index below argument_count").into()),
                input.clone(),
            );
        }
        let lookup = |env: &HashMap<usize, Tensor>, v: Value, op: &str| {
            env.get(&value_key(v)).cloned().ok_or_else(|| EvalError::Invalid {
                op: op.to_string(),
                message: "an operand has no value".into(),
            })
        };
        let mut op = block.first_operation();
        while let Some(current) = op {
            let name = op_name(&current);
            if name == "func.return" {
                return current.operands().map(|v| lookup(&env, v, &name)).collect();
            }
            // The operands per IRDL slot (`None` for an absent optional).
            let slot_inputs = |spec: &crate::spec::OpSpec| -> Result<Vec<Option<Tensor>>, EvalError> {
                (0..spec.operands.len())
                    .map(|slot| {
                        operand_group(&current, spec, slot)
                            .first()
                            .map(|v| lookup(&env, *v, &name))
                            .transpose()
                    })
                    .collect()
            };
            let results = (|| -> Result<Vec<Tensor>, EvalError> {
                Ok(match name.as_str() {
                    "func.call" => {
                        let callee = current
                            .attribute("callee")
                            .ok()
                            .map(|a| a.to_string().trim_start_matches('@').to_string())
                            .ok_or_else(|| EvalError::Invalid {
                                op: name.clone(),
                                message: "no callee".into(),
                            })?;
                        let function = find_function(self.module_op, &callee).ok_or(EvalError::NoFunction(callee))?;
                        let args: Vec<Tensor> = current
                            .operands()
                            .map(|v| lookup(&env, v, &name))
                            .collect::<Result<_, _>>()?;
                        self.function(function, &args)?
                    }
                    "graph.weight" => {
                        let weight = crate::accessors::string(&current, "name");
                        vec![
                            self.weights
                                .get(&weight)
                                .cloned()
                                .ok_or(EvalError::MissingWeight(weight))?,
                        ]
                    }
                    "ftensor.relayout" => {
                        let inputs: Vec<Tensor> = current
                            .operands()
                            .map(|v| lookup(&env, v, &name))
                            .collect::<Result<_, _>>()?;
                        vec![tensor_level(&current, &name, &inputs)?]
                    }
                    _ if name.starts_with("cann.") => {
                        let spec = find_op(&name).ok_or_else(|| EvalError::Unsupported(name.clone()))?;
                        let inputs = slot_inputs(spec)?;
                        let out_shape: Vec<usize> = current
                            .result(0)
                            .ok()
                            .and_then(|r| crate::ffi::tensor_info(r.r#type()))
                            .and_then(|info| info.static_shape())
                            .map(|shape| shape.iter().map(|&d| d as usize).collect())
                            .ok_or_else(|| EvalError::Unsupported(format!("{name} with a dynamic result")))?;
                        let output =
                            cann::evaluate(&name, &op_attrs(&current)?, &inputs, &out_shape).map_err(|e| match e {
                                SemError::Unsupported(what) => EvalError::Unsupported(what),
                                SemError::Invalid(message) => EvalError::Invalid {
                                    op: name.clone(),
                                    message,
                                },
                            })?;
                        vec![output]
                    }
                    _ if name.starts_with("graph.") || semantics::is_quantization_op(&name) => {
                        let spec = find_op(&name).ok_or_else(|| EvalError::Unsupported(name.clone()))?;
                        let inputs = slot_inputs(spec)?;
                        if let Some(observer) = &self.observer {
                            (observer.borrow_mut())(&current, &inputs);
                        }
                        let outputs =
                            semantics::evaluate(&name, &op_attrs(&current)?, &inputs).map_err(|e| match e {
                                SemError::Unsupported(what) => EvalError::Unsupported(what),
                                SemError::Invalid(message) => EvalError::Invalid {
                                    op: name.clone(),
                                    message,
                                },
                            })?;
                        // Optional results that the op does not carry (e.g. LayerNormalization's
                        // statistics) are dropped by slot.
                        select_results(&current, spec, outputs)
                    }
                    other => return Err(EvalError::Unsupported(other.to_string())),
                })
            })()
            .map_err(|error| match error {
                // Errors inside a called kernel already say where they happened.
                at @ EvalError::At { .. } => at,
                error => EvalError::At {
                    location: describe(&current),
                    error: Box::new(error),
                },
            })?;
            for (result, tensor) in current.results().zip(results) {
                env.insert(value_key(result.into()), tensor);
            }
            op = current.next_in_block();
        }
        Err(EvalError::Unsupported("a function without func.return".into()))
    }
}

/// `ftensor.relayout`: a transpose between two named layouts (the quantization ops go
/// through `semantics`).
fn tensor_level(op: &OperationRef, name: &str, inputs: &[Tensor]) -> Result<Tensor, EvalError> {
    let invalid = |message: &str| EvalError::Invalid {
        op: name.to_string(),
        message: message.to_string(),
    };
    let (src, dst) = (
        crate::accessors::string(op, "src_layout"),
        crate::accessors::string(op, "dst_layout"),
    );
    let perm: Vec<i64> = dst
        .chars()
        .map(|c| {
            src.find(c)
                .map(|p| p as i64)
                .ok_or_else(|| invalid("the layouts differ in letters"))
        })
        .collect::<Result<_, _>>()?;
    let mut attrs = Attrs::default();
    attrs.set("perm", Attr::Ints(perm));
    semantics::evaluate("transpose", &attrs, &[Some(inputs[0].clone())])
        .map(|mut v| v.remove(0))
        .map_err(|e| invalid(&e.to_string()))
}

/// Keeps the evaluated outputs whose result slots the op actually has.
fn select_results(op: &OperationRef, spec: &crate::spec::OpSpec, outputs: Vec<Tensor>) -> Vec<Tensor> {
    if spec.results.len() <= 1 || spec.results.iter().any(|s| s.name.ends_with("_0")) {
        return outputs;
    }
    outputs
        .into_iter()
        .enumerate()
        .filter(|(slot, _)| !crate::accessors::result_group(op, spec, *slot).is_empty())
        .map(|(_, t)| t)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{create_context, ffi::parse_module};

    fn run(text: &str, inputs: &[Tensor]) -> Result<Vec<Tensor>, EvalError> {
        let context = create_context().unwrap();
        let module = parse_module(&context, text, "test.mlir").expect("parses");
        evaluate(module.as_operation(), "f", inputs)
    }

    #[test]
    fn transpose_moves_elements_by_perm() {
        let out = run(
            r#"func.func @f(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
                 %0 = "graph.transpose"(%x) {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
                 return %0 : tensor<3x2xf32> }"#,
            &[Tensor::f32(&[2, 3], vec![1., 2., 3., 4., 5., 6.])],
        )
        .unwrap();
        assert_eq!(out, vec![Tensor::f32(&[3, 2], vec![1., 4., 2., 5., 3., 6.])]);
    }

    #[test]
    fn reshape_copies_zero_dims_and_infers_minus_one() {
        let out = run(
            r#"func.func @f(%x: tensor<2x3x4xf32>) -> tensor<2x12xf32> {
                 %s = "graph.constant"() {value = dense<[0, -1]> : tensor<2xi64>} : () -> tensor<2xi64>
                 %0 = "graph.reshape"(%x, %s) {allowzero = 0 : i64} : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<2x12xf32>
                 return %0 : tensor<2x12xf32> }"#,
            &[Tensor::f32(&[2, 3, 4], (0..24).map(|v| v as f32).collect())],
        )
        .unwrap();
        assert_eq!(out[0].shape(), &[2, 12]);
        assert_eq!(out[0].to_f64_vec()[12], 12.0, "row-major order is kept");
    }

    #[test]
    fn binary_ops_broadcast_and_leaky_relu_scales_negatives() {
        let out = run(
            r#"func.func @f(%x: tensor<2x3xf32>, %r: tensor<3xf32>) -> tensor<2x3xf32> {
                 %0 = "graph.sub"(%x, %r) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
                 %1 = "graph.leaky_relu"(%0) {alpha = 0.5 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
                 return %1 : tensor<2x3xf32> }"#,
            &[
                Tensor::f32(&[2, 3], vec![1., 2., 3., 4., 5., 6.]),
                Tensor::f32(&[3], vec![2., 2., 2.]),
            ],
        )
        .unwrap();
        assert_eq!(out, vec![Tensor::f32(&[2, 3], vec![-0.5, 0., 1., 2., 3., 4.])]);
    }

    #[test]
    fn conv_matches_a_hand_computed_sum() {
        // 1x1x3x3 input, 1x1x2x2 kernel of ones, stride 1, no padding: sums of 2x2 windows.
        let out = run(
            r#"func.func @f(%x: tensor<1x1x3x3xf32>, %w: tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32> {
                 %0 = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
                 return %0 : tensor<1x1x2x2xf32> }"#,
            &[Tensor::f32(&[1, 1, 3, 3], (1..=9).map(|v| v as f32).collect()), Tensor::f32(&[1, 1, 2, 2], vec![1.0; 4])],
        )
        .unwrap();
        assert_eq!(out, vec![Tensor::f32(&[1, 1, 2, 2], vec![12., 16., 24., 28.])]);
    }

    #[test]
    fn quantization_round_trips_within_half_a_step() {
        let out = run(
            r#"func.func @f(%x: tensor<2x2xf32>, %s: tensor<2xf32>, %z: tensor<2xi8>) -> (tensor<2x2xi8>, tensor<2x2xf32>) {
                 %q = "ftensor.quantize"(%x, %s, %z) {axis = 1 : i64} : (tensor<2x2xf32>, tensor<2xf32>, tensor<2xi8>) -> tensor<2x2xi8>
                 %d = "ftensor.dequantize"(%q, %s, %z) {axis = 1 : i64} : (tensor<2x2xi8>, tensor<2xf32>, tensor<2xi8>) -> tensor<2x2xf32>
                 return %q, %d : tensor<2x2xi8>, tensor<2x2xf32> }"#,
            &[Tensor::f32(&[2, 2], vec![0.26, -1.0, 100.0, 0.5]), Tensor::f32(&[2], vec![0.1, 0.5]), Tensor::i64(&[2], vec![3, -2]).cast(DType::I8)],
        )
        .unwrap();
        // Column 0: scale 0.1, zero 3; column 1: scale 0.5, zero -2. 100 / 0.1 saturates.
        assert_eq!(out[0], Tensor::i64(&[2, 2], vec![6, -4, 127, -1]).cast(DType::I8));
        assert_eq!(
            out[1]
                .to_f64_vec()
                .iter()
                .map(|v| (v * 100.0).round() / 100.0)
                .collect::<Vec<_>>(),
            vec![0.3, -1.0, 12.4, 0.5]
        );
    }

    #[test]
    fn unknown_ops_are_reported_not_guessed() {
        let err = run(
            r#"func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
                 %0 = "graph.weight"() {name = "w"} : () -> tensor<4xf32>
                 return %0 : tensor<4xf32> }"#,
            &[Tensor::f32(&[4], vec![1., 2., 3., 4.])],
        )
        .unwrap_err();
        assert_eq!(err.root(), &EvalError::MissingWeight("w".into()));
        assert!(err.to_string().starts_with("test.mlir:2:"), "names where: {err}");
    }
}
