//! The C++17 program of a module in the `cann` dialect, on aclnn's two-phase API.
//!
//! The entry function is walked in order, every call of a kernel function inlined, so
//! the model is one schedule of aclnn calls. Every tensor value gets a descriptor
//! (`aclCreateTensor`, made once at load) over one of the device buffers:
//!
//! - the inputs and outputs, copied from and to the caller's host memory around a run;
//! - the weights (the module's constants), read from `weights/w<k>.bin` at load;
//! - the intermediates, placed in one arena by the same planner as `hw-plan-memory`
//!   (`crate::memory_plan`: a buffer lives from the call that writes it to its last
//!   reader; a `cann.reshape` is a second descriptor over its source's memory).
//!
//! Each call is `aclnnXxxGetWorkspaceSize` then `aclnnXxx` on one stream, all of them
//! sharing one workspace, grown (after a stream synchronization) to the largest request.
//! Every ACL and aclnn status is checked; a failure returns it with the call, file and
//! line on stderr. The files: `model.h` (the library's interface), `model.cpp`,
//! `main.cpp` (an example that loads, runs on inputs from .bin files or generated ones,
//! and writes the outputs), `weights/w<k>.bin`.

use crate::{
    graph_to_linalg::constant_value,
    memory_plan::{self, Buffer as PlannedBuffer},
};
use fuser_dialects::{
    accessors::{op_name, operand_group},
    constants::tensor_bytes,
    eval::{find_function, op_attrs},
    ffi::{tensor_info, value_key},
    semantics::{Attrs, DType},
    spec::find_op,
};
use melior::ir::{
    BlockLike, OperationRef, RegionLike, Value, ValueLike, attribute::FlatSymbolRefAttribute, operation::OperationLike,
};
use std::{
    collections::{BTreeSet, HashMap},
    fmt::Write,
};

/// One generated file: its path inside the output directory, and its bytes.
pub struct File {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// Where a device buffer lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Storage {
    Input(usize),
    Output(usize),
    Weight(usize),
    /// Intermediate `i`, placed in the arena.
    Intermediate(usize),
}

/// A tensor descriptor: the buffer it views, its element type and shape.
struct Descriptor {
    storage: Storage,
    dtype: DType,
    shape: Vec<i64>,
}

/// One aclnn call (or `cann.reshape`, which has none) of the schedule.
struct Step {
    op: String,
    location: String,
    attrs: Attrs,
    /// Descriptor per operand slot (`None` for an absent optional); a slot family
    /// (`cat`'s tensors) is one entry per present value.
    operands: Vec<Option<usize>>,
    result: usize,
}

struct Program {
    descriptors: Vec<Descriptor>,
    steps: Vec<Step>,
    inputs: Vec<(String, DType, Vec<i64>)>,
    outputs: Vec<(DType, Vec<i64>)>,
    weights: Vec<Vec<u8>>,
    /// Per intermediate: bytes, first and last step.
    intermediates: Vec<(u64, usize, usize)>,
    /// Outputs whose value lives elsewhere (an input, a weight, another output): copied
    /// device to device after the last call, from this descriptor.
    output_copies: Vec<(usize, usize)>,
}

fn dtype_of(value: Value) -> Result<(DType, Vec<i64>), String> {
    let info =
        tensor_info(value.r#type()).ok_or_else(|| format!("a value of type {} is not a tensor", value.r#type()))?;
    let dtype =
        DType::from_mlir(&info.element).ok_or_else(|| format!("element type {} has no aclDataType", info.element))?;
    let shape = info
        .static_shape()
        .ok_or_else(|| format!("{} has a dynamic shape", value.r#type()))?;
    Ok((dtype, shape))
}

fn bytes_of(dtype: DType, shape: &[i64]) -> u64 {
    shape.iter().product::<i64>().max(0) as u64 * dtype.size() as u64
}

/// The module's location of `op`, for comments.
fn location_of(op: OperationRef) -> String {
    let place = fuser_dialects::eval::describe_location(op.location()).unwrap_or_else(|| op_name(&op));
    // It goes into a `//` comment: one line, printable ASCII.
    place
        .chars()
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
        .collect()
}

/// A C++ string literal of `text`: printable ASCII as is, every other byte as an octal
/// escape (at most three digits, so it cannot run into the next character).
fn cpp_string(text: &str) -> String {
    let mut out = String::from("\"");
    for byte in text.bytes() {
        match byte {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(byte as char);
            }
            b' '..=b'~' => out.push(byte as char),
            other => out.push_str(&format!("\\{other:03o}")),
        }
    }
    out.push('"');
    out
}

struct Walker<'c, 'a> {
    module: OperationRef<'c, 'a>,
    program: Program,
    /// The weight descriptor of each constant op's result.
    constants: HashMap<usize, usize>,
    /// The bytes of constants no call has read yet, by descriptor.
    unread: HashMap<usize, Vec<u8>>,
}

impl<'c, 'a> Walker<'c, 'a> {
    fn intermediate(&mut self, dtype: DType, shape: Vec<i64>, step: usize) -> usize {
        let index = self.program.intermediates.len();
        self.program.intermediates.push((bytes_of(dtype, &shape), step, step));
        self.program.descriptors.push(Descriptor {
            storage: Storage::Intermediate(index),
            dtype,
            shape,
        });
        self.program.descriptors.len() - 1
    }

    /// Extends the life of the buffer behind descriptor `d` to `step` (a constant read
    /// for the first time becomes a weight).
    fn read_at(&mut self, d: usize, step: usize) {
        self.materialize(d);
        if let Storage::Intermediate(i) = self.program.descriptors[d].storage {
            let entry = &mut self.program.intermediates[i];
            entry.2 = entry.2.max(step);
        }
    }

    /// Gives constant descriptor `d` its weight file, once.
    fn materialize(&mut self, d: usize) {
        if let Some(bytes) = self.unread.remove(&d) {
            self.program.weights.push(bytes);
            self.program.descriptors[d].storage = Storage::Weight(self.program.weights.len() - 1);
        }
    }

    /// Walks the body of `function`, whose arguments are descriptors `arguments`;
    /// returns the descriptors it returns.
    fn walk(&mut self, function: OperationRef<'c, 'a>, arguments: &[usize]) -> Result<Vec<usize>, String> {
        let block = function
            .region(0)
            .ok()
            .and_then(|r| r.first_block())
            .ok_or("a function without a body")?;
        let mut values: HashMap<usize, usize> = HashMap::new();
        for (i, &d) in arguments.iter().enumerate() {
            values.insert(value_key(block.argument(i).map_err(|e| e.to_string())?.into()), d);
        }
        let lookup = |values: &HashMap<usize, usize>, v: Value| -> Result<usize, String> {
            values.get(&value_key(v)).copied().ok_or_else(|| {
                format!(
                    "a value of type {} defined by an op the Ascend emitter does not run",
                    v.r#type()
                )
            })
        };
        let mut current = block.first_operation();
        while let Some(op) = current {
            current = op.next_in_block();
            let name = op_name(&op);
            match name.as_str() {
                "graph.constant" | "arith.constant" => {
                    let result: Value = op.result(0).map_err(|e| e.to_string())?.into();
                    // A kernel called twice reads the same weight.
                    if let Some(&d) = self.constants.get(&value_key(result)) {
                        values.insert(value_key(result), d);
                        continue;
                    }
                    let (dtype, shape) = dtype_of(result)?;
                    let tensor =
                        constant_value(result).ok_or_else(|| format!("{name} without a dense tensor value"))?;
                    // A weight file only for constants a call reads (not a Reshape's shape).
                    self.program.descriptors.push(Descriptor {
                        storage: Storage::Weight(usize::MAX),
                        dtype,
                        shape,
                    });
                    let d = self.program.descriptors.len() - 1;
                    self.unread.insert(d, tensor_bytes(&tensor));
                    self.constants.insert(value_key(result), d);
                    values.insert(value_key(result), d);
                }
                "func.call" => {
                    let callee = op
                        .attribute("callee")
                        .ok()
                        .and_then(|a| FlatSymbolRefAttribute::try_from(a).ok())
                        .map(|a| a.value().to_string())
                        .ok_or("func.call without a callee")?;
                    let target = find_function(self.module, &callee).ok_or_else(|| format!("no function @{callee}"))?;
                    let args: Vec<usize> = op.operands().map(|v| lookup(&values, v)).collect::<Result<_, _>>()?;
                    let returned = self.walk(target, &args)?;
                    for (result, d) in op.results().zip(returned) {
                        values.insert(value_key(result.into()), d);
                    }
                }
                "func.return" => {
                    return op.operands().map(|v| lookup(&values, v)).collect();
                }
                _ if name.starts_with("cann.") => {
                    let spec = find_op(&name).ok_or_else(|| format!("{name} is not a cann op"))?;
                    let step = self.program.steps.len();
                    let mut operands = Vec::new();
                    for slot in 0..spec.operands.len() {
                        let group = operand_group(&op, spec, slot);
                        if group.is_empty() && !spec.operands[slot].name.starts_with("tensors_") {
                            operands.push(None);
                        }
                        for v in group {
                            let d = lookup(&values, v)?;
                            self.read_at(d, step);
                            operands.push(Some(d));
                        }
                    }
                    let result: Value = op.result(0).map_err(|e| e.to_string())?.into();
                    let (dtype, shape) = dtype_of(result)?;
                    let d = if name == "cann.reshape" {
                        // Same memory, a new shape.
                        let source = operands[0].ok_or("cann.reshape without an operand")?;
                        let storage = self.program.descriptors[source].storage;
                        self.program.descriptors.push(Descriptor { storage, dtype, shape });
                        self.program.descriptors.len() - 1
                    } else {
                        self.intermediate(dtype, shape, step)
                    };
                    self.program.steps.push(Step {
                        op: name.trim_start_matches("cann.").to_string(),
                        location: location_of(op),
                        attrs: op_attrs(&op).map_err(|e| e.to_string())?,
                        operands,
                        result: d,
                    });
                    values.insert(value_key(result), d);
                }
                other => {
                    return Err(format!(
                        "{other} at {}: the Ascend emitter runs graph constants, calls and cann ops only (run convert-ftensor-to-cann first)",
                        location_of(op)
                    ));
                }
            }
        }
        Err("a function without func.return".into())
    }
}

/// Builds the schedule of entry `entry` of `module`.
fn program(module: OperationRef, entry: &str, input_names: &[String]) -> Result<Program, String> {
    let function = find_function(module, entry).ok_or_else(|| format!("no entry function @{entry}"))?;
    let block = function
        .region(0)
        .ok()
        .and_then(|r| r.first_block())
        .ok_or("an entry function without a body")?;
    let mut walker = Walker {
        module,
        constants: HashMap::new(),
        unread: HashMap::new(),
        program: Program {
            descriptors: Vec::new(),
            steps: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            weights: Vec::new(),
            intermediates: Vec::new(),
            output_copies: Vec::new(),
        },
    };
    let mut arguments = Vec::new();
    for i in 0..block.argument_count() {
        let (dtype, shape) = dtype_of(block.argument(i).map_err(|e| e.to_string())?.into())?;
        let name = input_names.get(i).cloned().unwrap_or_else(|| format!("input_{i}"));
        walker.program.inputs.push((name, dtype, shape.clone()));
        walker.program.descriptors.push(Descriptor {
            storage: Storage::Input(i),
            dtype,
            shape,
        });
        arguments.push(walker.program.descriptors.len() - 1);
    }
    let returned = walker.walk(function, &arguments)?;
    for &d in &returned {
        walker.materialize(d);
    }
    let mut program = walker.program;
    // An output written by a call takes its intermediate's place; any other (an input,
    // a weight, a value returned twice) is copied into its output buffer at the end.
    let mut claimed: BTreeSet<usize> = BTreeSet::new();
    for (j, &d) in returned.iter().enumerate() {
        let (dtype, shape) = (program.descriptors[d].dtype, program.descriptors[d].shape.clone());
        program.outputs.push((dtype, shape.clone()));
        match program.descriptors[d].storage {
            Storage::Intermediate(i) if claimed.insert(i) => {
                // Written in its output buffer: no room in the arena.
                program.intermediates[i].0 = 0;
                for descriptor in &mut program.descriptors {
                    if descriptor.storage == Storage::Intermediate(i) {
                        descriptor.storage = Storage::Output(j);
                    }
                }
            }
            _ => {
                program.descriptors.push(Descriptor {
                    storage: Storage::Output(j),
                    dtype,
                    shape,
                });
                program.output_copies.push((d, program.descriptors.len() - 1));
            }
        }
    }
    Ok(program)
}

/// The aclDataType of `dtype`.
fn acl_type(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "ACL_FLOAT",
        DType::F16 => "ACL_FLOAT16",
        DType::BF16 => "ACL_BF16",
        DType::F64 => "ACL_DOUBLE",
        DType::I8 => "ACL_INT8",
        DType::U8 => "ACL_UINT8",
        DType::I32 => "ACL_INT32",
        DType::I64 => "ACL_INT64",
        DType::Bool => "ACL_BOOL",
    }
}

fn list(values: &[i64]) -> String {
    values.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

/// A C++ literal of an f64 (exact for the f32 values the attributes hold).
fn double(value: f64) -> String {
    if value.is_finite() {
        format!("{value:?}")
    } else if value > 0.0 {
        "INFINITY".into()
    } else {
        "-INFINITY".into()
    }
}

/// The header, the aclnn function and its arguments before the workspace pair, for one
/// step; `None` for a reshape (no call).
fn call(
    step: &Step,
    tensor: &dyn Fn(Option<usize>) -> String,
    dtype: &str,
) -> Result<Option<(String, String, Vec<String>)>, String> {
    let a = &step.attrs;
    let int = |n: &str| a.int(n).map_err(|e| e.to_string());
    let float = |n: &str| a.float(n).map_err(|e| e.to_string());
    let ints = |n: &str| {
        a.ints(n)
            .map_err(|e| e.to_string())
            .map(|v| format!("ints({{{}}})", list(&v)))
    };
    let boolean = |n: &str| int(n).map(|v| if v != 0 { "true" } else { "false" }.to_string());
    let scalar = |n: &str| float(n).map(|v| format!("scalar({})", double(v)));
    let x = |i: usize| tensor(step.operands.get(i).copied().flatten());
    let out = tensor(Some(step.result));
    let (header, function, args): (&str, &str, Vec<String>) = match step.op.as_str() {
        "reshape" => return Ok(None),
        "convolution" => (
            "aclnn_convolution",
            "aclnnConvolution",
            vec![
                x(0),
                x(1),
                x(2),
                ints("stride")?,
                ints("padding")?,
                ints("dilation")?,
                boolean("transposed")?,
                ints("output_padding")?,
                int("groups")?.to_string(),
                out,
                int("cube_math_type")?.to_string(),
            ],
        ),
        "matmul" => (
            "aclnn_matmul",
            "aclnnMatmul",
            vec![x(0), x(1), out, int("cube_math_type")?.to_string()],
        ),
        "addmm" => (
            "aclnn_addmm",
            "aclnnAddmm",
            vec![
                x(0),
                x(1),
                x(2),
                scalar("beta")?,
                scalar("alpha")?,
                out,
                int("cube_math_type")?.to_string(),
            ],
        ),
        "add" => ("aclnn_add", "aclnnAdd", vec![x(0), x(1), scalar("alpha")?, out]),
        "sub" => ("aclnn_sub", "aclnnSub", vec![x(0), x(1), scalar("alpha")?, out]),
        "mul" => ("aclnn_mul", "aclnnMul", vec![x(0), x(1), out]),
        "div" => ("aclnn_div", "aclnnDiv", vec![x(0), x(1), out]),
        "relu" => ("aclnn_relu", "aclnnRelu", vec![x(0), out]),
        "sigmoid" => ("aclnn_sigmoid", "aclnnSigmoid", vec![x(0), out]),
        "tanh" => ("aclnn_tanh", "aclnnTanh", vec![x(0), out]),
        "exp" => ("aclnn_exp", "aclnnExp", vec![x(0), out]),
        "sqrt" => ("aclnn_sqrt", "aclnnSqrt", vec![x(0), out]),
        "gelu" => (
            "aclnn_gelu_v2",
            "aclnnGeluV2",
            vec![x(0), int("approximate")?.to_string(), out],
        ),
        "leaky_relu" => (
            "aclnn_leaky_relu",
            "aclnnLeakyRelu",
            vec![x(0), scalar("negative_slope")?, out],
        ),
        "clamp" => (
            "aclnn_clamp",
            "aclnnClamp",
            vec![x(0), scalar("min")?, scalar("max")?, out],
        ),
        "max_pool" => (
            "aclnn_max_pool",
            "aclnnMaxPool",
            // autoPad 0: the explicit pads.
            vec![
                x(0),
                ints("kernel_shape")?,
                ints("strides")?,
                "0".into(),
                ints("pads")?,
                ints("dilations")?,
                int("ceil_mode")?.to_string(),
                out,
            ],
        ),
        "avg_pool2d" => (
            "aclnn_avgpool2d",
            "aclnnAvgPool2d",
            vec![
                x(0),
                ints("kernel_size")?,
                ints("strides")?,
                ints("paddings")?,
                boolean("ceil_mode")?,
                boolean("count_include_pad")?,
                int("divisor_override")?.to_string(),
                int("cube_math_type")?.to_string(),
                out,
            ],
        ),
        "adaptive_avg_pool2d" => (
            "aclnn_adaptive_avg_pool2d",
            "aclnnAdaptiveAvgPool2d",
            vec![x(0), ints("output_size")?, out],
        ),
        "softmax" => (
            "aclnn_softmax",
            "aclnnSoftmax",
            vec![x(0), int("dim")?.to_string(), out],
        ),
        "layer_norm" => (
            "aclnn_layer_norm",
            "aclnnLayerNorm",
            vec![
                x(0),
                ints("normalized_shape")?,
                x(1),
                x(2),
                double(float("eps")?),
                out,
                "nullptr".into(),
                "nullptr".into(),
            ],
        ),
        "batch_norm" => (
            "aclnn_batch_norm",
            "aclnnBatchNorm",
            vec![
                x(0),
                x(1),
                x(2),
                x(3),
                x(4),
                boolean("training")?,
                double(float("momentum")?),
                double(float("eps")?),
                out,
                "nullptr".into(),
                "nullptr".into(),
            ],
        ),
        "cat" => {
            let tensors: Vec<String> = step.operands.iter().map(|d| tensor(*d)).collect();
            (
                "aclnn_cat",
                "aclnnCat",
                vec![
                    format!("tensors({{{}}})", tensors.join(", ")),
                    int("dim")?.to_string(),
                    out,
                ],
            )
        }
        "permute" => ("aclnn_permute", "aclnnPermute", vec![x(0), ints("dims")?, out]),
        "reduce_sum" => (
            "aclnn_reduce_sum",
            "aclnnReduceSum",
            vec![x(0), ints("dims")?, boolean("keep_dims")?, dtype.to_string(), out],
        ),
        "mean" => (
            "aclnn_mean",
            "aclnnMean",
            vec![x(0), ints("dim")?, boolean("keep_dim")?, dtype.to_string(), out],
        ),
        other => return Err(format!("cann.{other} has no C++ emission")),
    };
    Ok(Some((header.to_string(), function.to_string(), args)))
}

const HEADER: &str = r#"// The interface of a model compiled by fuser for Huawei Ascend (aclnn). Generated;
// do not edit.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fuser_model {

struct Model;

// Initializes ACL on `device`, creates a stream, allocates the device buffers and loads
// the weights from `weights_dir` (its w<k>.bin files). Returns nullptr after printing
// the failing call on stderr.
Model* create(const char* weights_dir, int32_t device);

// Runs the model: inputs[i] holds input_bytes(i) bytes of input i (host memory);
// outputs[j] receives output_bytes(j) bytes. Returns 0, or the failing ACL status.
int run(Model* model, const void* const* inputs, void* const* outputs);

// Frees everything `create` made (and finalizes ACL).
void destroy(Model* model);

int input_count();
int output_count();
size_t input_bytes(int i);
size_t output_bytes(int j);
const char* input_name(int i);

}  // namespace fuser_model
"#;

const MAIN: &str = r#"// An example of fuser's Ascend library: loads the model, runs it once on the inputs
// given as raw little-endian files (or generated values), and writes output_<j>.bin.
// Usage: main WEIGHTS_DIR [INPUT_0.bin ...]. Generated; do not edit.
#include "model.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s WEIGHTS_DIR [INPUT_0.bin ...]\n", argv[0]);
    return 1;
  }
  std::vector<std::vector<char>> inputs(fuser_model::input_count());
  std::vector<const void*> input_pointers;
  for (int i = 0; i < fuser_model::input_count(); ++i) {
    inputs[i].resize(fuser_model::input_bytes(i));
    if (argc > 2 + i) {
      std::ifstream file(argv[2 + i], std::ios::binary);
      if (!file.read(inputs[i].data(), static_cast<std::streamsize>(inputs[i].size()))) {
        std::fprintf(stderr, "%s: cannot read %zu bytes for input '%s'\n", argv[2 + i], inputs[i].size(),
                     fuser_model::input_name(i));
        return 1;
      }
    } else {
      // No file: a deterministic pattern of small byte values.
      for (size_t k = 0; k < inputs[i].size(); ++k) inputs[i][k] = static_cast<char>((k * 7 + 3) % 61);
    }
    input_pointers.push_back(inputs[i].data());
  }
  std::vector<std::vector<char>> outputs(fuser_model::output_count());
  std::vector<void*> output_pointers;
  for (int j = 0; j < fuser_model::output_count(); ++j) {
    outputs[j].resize(fuser_model::output_bytes(j));
    output_pointers.push_back(outputs[j].data());
  }
  fuser_model::Model* model = fuser_model::create(argv[1], 0);
  if (model == nullptr) return 1;
  int status = fuser_model::run(model, input_pointers.data(), output_pointers.data());
  fuser_model::destroy(model);
  if (status != 0) return 1;
  for (int j = 0; j < fuser_model::output_count(); ++j) {
    std::string path = "output_" + std::to_string(j) + ".bin";
    std::ofstream file(path, std::ios::binary);
    file.write(outputs[j].data(), static_cast<std::streamsize>(outputs[j].size()));
    std::printf("wrote %s (%zu bytes)\n", path.c_str(), outputs[j].size());
  }
  return 0;
}
"#;

/// The C++ files of entry `entry` of `module` (after `convert-ftensor-to-cann`);
/// `input_names` names the inputs in the generated interface.
pub fn emit_cpp(module: OperationRef, entry: &str, input_names: &[String]) -> Result<Vec<File>, String> {
    let program = program(module, entry, input_names)?;
    let planned: Vec<PlannedBuffer> = program
        .intermediates
        .iter()
        .map(|&(size, first, last)| PlannedBuffer {
            size,
            first,
            last,
            in_place_of: None,
        })
        .collect();
    let plan = memory_plan::plan(&planned);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "// The model {entry}, compiled by fuser for Huawei Ascend on the aclnn two-phase API.\n// Generated; do not edit. {} aclnn calls, {} weights, an arena of {} bytes.\n#include \"model.h\"\n\n#include \"acl/acl.h\"",
        program.steps.iter().filter(|s| s.op != "reshape").count(),
        program.weights.len(),
        plan.peak
    );
    // Every call's text first: it names the headers.
    let tensor = |d: Option<usize>| d.map_or("nullptr".to_string(), |d| format!("m->t[{d}]"));
    let mut headers: BTreeSet<String> = BTreeSet::new();
    let mut body = String::new();
    for step in &program.steps {
        let dtype = acl_type(program.descriptors[step.result].dtype);
        let Some((header, function, args)) = call(step, &tensor, dtype)? else {
            let _ = writeln!(
                body,
                "  // cann.reshape at {}: m->t[{}] views the memory of its operand.",
                step.location, step.result
            );
            continue;
        };
        headers.insert(header);
        // Parameter objects (arrays, scalars, tensor lists) are made, and checked, first.
        let mut made = String::new();
        let args: Vec<String> = args
            .into_iter()
            .enumerate()
            .map(|(i, arg)| {
                if ["ints(", "scalar(", "tensors("].iter().any(|p| arg.starts_with(p)) {
                    let _ = writeln!(made, "    auto* p{i} = {arg};");
                    format!("p{i}")
                } else {
                    arg
                }
            })
            .collect();
        if !made.is_empty() {
            made.push_str("    FUSER_CHECK(parameters.check());\n");
        }
        let _ = writeln!(
            body,
            "  {{  // cann.{} at {}\n{made}    uint64_t workspace_bytes = 0;\n    aclOpExecutor* executor = nullptr;\n    FUSER_CHECK({function}GetWorkspaceSize({}, &workspace_bytes, &executor));\n    FUSER_CHECK(reserve_workspace(m, workspace_bytes));\n    FUSER_CHECK({function}(m->workspace, workspace_bytes, executor, m->stream));\n  }}",
            step.op,
            step.location,
            args.join(", ")
        );
    }
    for header in &headers {
        let _ = writeln!(text, "#include \"aclnnop/{header}.h\"");
    }
    let weights = program.weights.len();
    let (inputs, outputs) = (program.inputs.len(), program.outputs.len());
    let _ = write!(
        text,
        r#"
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

// Checks an ACL or aclnn status: on failure, prints the call and returns the status.
#define FUSER_CHECK(call)                                                              \
  do {{                                                                                 \
    auto status_ = (call);                                                             \
    if (status_ != 0) {{                                                                \
      std::fprintf(stderr, "fuser_model: %s failed with status %d (%s:%d): %s\n", #call, \
                   static_cast<int>(status_), __FILE__, __LINE__, aclGetRecentErrMsg()); \
      return static_cast<int>(status_);                                                \
    }}                                                                                  \
  }} while (0)

namespace fuser_model {{
namespace {{

constexpr int kInputs = {inputs};
constexpr int kOutputs = {outputs};
constexpr int kWeights = {weights};
constexpr int kTensors = {tensors};
constexpr size_t kArenaBytes = {arena};

struct TensorSpec {{
  int storage;     // 0 input, 1 output, 2 weight, 3 arena; -1 unused
  uint64_t index;  // the input, output or weight; for the arena the byte offset
  aclDataType dtype;
  aclFormat format;
  int rank;
  int64_t dims[8];
}};

"#,
        tensors = program.descriptors.len(),
        arena = plan.peak,
    );
    let sizes = |list: &[(DType, Vec<i64>)]| -> String {
        if list.is_empty() {
            return "0".into();
        }
        list.iter()
            .map(|(dtype, shape)| bytes_of(*dtype, shape).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let input_types: Vec<(DType, Vec<i64>)> = program.inputs.iter().map(|(_, d, s)| (*d, s.clone())).collect();
    let _ = writeln!(text, "const size_t kInputBytes[] = {{{}}};", sizes(&input_types));
    let _ = writeln!(text, "const size_t kOutputBytes[] = {{{}}};", sizes(&program.outputs));
    let names: Vec<String> = program.inputs.iter().map(|(n, _, _)| cpp_string(n)).collect();
    let _ = writeln!(
        text,
        "const char* const kInputNames[] = {{{}}};",
        if names.is_empty() {
            "\"\"".to_string()
        } else {
            names.join(", ")
        }
    );
    let weight_sizes: Vec<String> = program.weights.iter().map(|w| w.len().to_string()).collect();
    let _ = writeln!(
        text,
        "const size_t kWeightBytes[] = {{{}}};",
        if weight_sizes.is_empty() {
            "0".to_string()
        } else {
            weight_sizes.join(", ")
        }
    );
    // The descriptors a convolution reads or writes.
    let conv_tensors: BTreeSet<usize> = program
        .steps
        .iter()
        .filter(|s| s.op == "convolution")
        .flat_map(|s| s.operands.iter().flatten().copied().chain([s.result]))
        .collect();
    text.push_str("const TensorSpec kTensorSpecs[] = {\n");
    for (slot, d) in program.descriptors.iter().enumerate() {
        let (storage, index) = match d.storage {
            Storage::Input(i) => (0, i as u64),
            Storage::Output(j) => (1, j as u64),
            // A constant no call reads (a Reshape's shape): no descriptor.
            Storage::Weight(usize::MAX) => (-1, 0),
            Storage::Weight(k) => (2, k as u64),
            Storage::Intermediate(i) => (3, plan.offsets[i]),
        };
        if d.shape.len() > 8 {
            return Err(format!(
                "a tensor of rank {} (aclnn descriptors here take 8 dims)",
                d.shape.len()
            ));
        }
        let dims = if d.shape.is_empty() {
            "0".to_string()
        } else {
            list(&d.shape)
        };
        // aclnnConvolution wants its tensors NCL/NCHW/NCDHW, and most ops accept those;
        // other ranks are ND.
        let format = match (d.shape.len(), conv_tensors.contains(&slot)) {
            (3, true) => "ACL_FORMAT_NCL",
            (4, _) => "ACL_FORMAT_NCHW",
            (5, _) => "ACL_FORMAT_NCDHW",
            _ => "ACL_FORMAT_ND",
        };
        let _ = writeln!(
            text,
            "    {{{storage}, {index}, {}, {format}, {}, {{{dims}}}}},",
            acl_type(d.dtype),
            d.shape.len()
        );
    }
    text.push_str("};\n\n}  // namespace\n\n");
    let _ = write!(
        text,
        r#"struct Model {{
  bool acl_ready = false;
  int32_t device = -1;
  aclrtStream stream = nullptr;
  void* arena = nullptr;
  void* workspace = nullptr;
  uint64_t workspace_capacity = 0;
  void* inputs[kInputs + 1] = {{}};
  void* outputs[kOutputs + 1] = {{}};
  void* weights[kWeights + 1] = {{}};
  aclTensor* t[kTensors + 1] = {{}};
}};

namespace {{

// The host-side parameter objects of one run, destroyed after the stream is done.
struct Parameters {{
  std::vector<aclIntArray*> arrays;
  std::vector<aclScalar*> scalars;
  std::vector<aclTensorList*> lists;
  // Whether an aclCreate* call returned nullptr (checked before the aclnn call that takes them).
  bool failed = false;
  int check() const {{
    if (!failed) return 0;
    std::fprintf(stderr, "fuser_model: creating an aclIntArray, aclScalar or aclTensorList failed\n");
    return 1;
  }}
  ~Parameters() {{
    for (aclIntArray* a : arrays)
      if (a != nullptr) aclDestroyIntArray(a);
    for (aclScalar* s : scalars)
      if (s != nullptr) aclDestroyScalar(s);
    for (aclTensorList* l : lists)
      if (l != nullptr) aclDestroyTensorList(l);
  }}
}};

// One workspace for every call: grown, after the queued calls finish, to the largest
// request.
int reserve_workspace(Model* m, uint64_t bytes) {{
  if (bytes <= m->workspace_capacity) return 0;
  FUSER_CHECK(aclrtSynchronizeStream(m->stream));
  if (m->workspace != nullptr) FUSER_CHECK(aclrtFree(m->workspace));
  m->workspace = nullptr;
  m->workspace_capacity = 0;
  FUSER_CHECK(aclrtMalloc(&m->workspace, bytes, ACL_MEM_MALLOC_HUGE_FIRST));
  m->workspace_capacity = bytes;
  return 0;
}}

int allocate(void** buffer, size_t bytes) {{
  // A zero-byte buffer still gets an address.
  FUSER_CHECK(aclrtMalloc(buffer, bytes == 0 ? 1 : bytes, ACL_MEM_MALLOC_HUGE_FIRST));
  return 0;
}}

int load_weight(Model* m, const std::string& dir, int k) {{
  std::string path = dir + "/w" + std::to_string(k) + ".bin";
  std::ifstream file(path, std::ios::binary);
  std::vector<char> bytes(kWeightBytes[k]);
  if (!file.read(bytes.data(), static_cast<std::streamsize>(bytes.size()))) {{
    std::fprintf(stderr, "fuser_model: cannot read %zu bytes from %s\n", bytes.size(), path.c_str());
    return 1;
  }}
  FUSER_CHECK(allocate(&m->weights[k], bytes.size()));
  if (!bytes.empty())
    FUSER_CHECK(aclrtMemcpy(m->weights[k], bytes.size(), bytes.data(), bytes.size(), ACL_MEMCPY_HOST_TO_DEVICE));
  return 0;
}}

int make_descriptors(Model* m) {{
  for (int i = 0; i < kTensors; ++i) {{
    const TensorSpec& spec = kTensorSpecs[i];
    if (spec.storage < 0) continue;
    void* base = spec.storage == 0   ? m->inputs[spec.index]
                 : spec.storage == 1 ? m->outputs[spec.index]
                 : spec.storage == 2 ? m->weights[spec.index]
                                     : static_cast<char*>(m->arena) + spec.index;
    // Contiguous row-major strides, in elements.
    int64_t strides[8] = {{}};
    int64_t stride = 1;
    for (int d = spec.rank - 1; d >= 0; --d) {{
      strides[d] = stride;
      stride *= spec.dims[d];
    }}
    m->t[i] = aclCreateTensor(spec.dims, spec.rank, spec.dtype, strides, 0, spec.format, spec.dims, spec.rank, base);
    if (m->t[i] == nullptr) {{
      std::fprintf(stderr, "fuser_model: aclCreateTensor failed for tensor %d\n", i);
      return 1;
    }}
  }}
  return 0;
}}

int initialize(Model* m, const char* weights_dir, int32_t device) {{
  // Another model (or the caller) may have initialized ACL: then it is not ours to finalize.
  aclError init = aclInit(nullptr);
  if (init != ACL_ERROR_REPEAT_INITIALIZE) {{
    FUSER_CHECK(init);
    m->acl_ready = true;
  }}
  FUSER_CHECK(aclrtSetDevice(device));
  m->device = device;
  FUSER_CHECK(aclrtCreateStream(&m->stream));
  FUSER_CHECK(allocate(&m->arena, kArenaBytes));
  for (int i = 0; i < kInputs; ++i) FUSER_CHECK(allocate(&m->inputs[i], kInputBytes[i]));
  for (int j = 0; j < kOutputs; ++j) FUSER_CHECK(allocate(&m->outputs[j], kOutputBytes[j]));
  for (int k = 0; k < kWeights; ++k) FUSER_CHECK(load_weight(m, weights_dir, k));
  FUSER_CHECK(make_descriptors(m));
  return 0;
}}

}}  // namespace

Model* create(const char* weights_dir, int32_t device) {{
  Model* m = new Model();
  if (initialize(m, weights_dir, device) != 0) {{
    destroy(m);
    return nullptr;
  }}
  return m;
}}

void destroy(Model* m) {{
  if (m == nullptr) return;
  // Nothing is freed while queued calls may still use it.
  if (m->stream != nullptr) aclrtSynchronizeStream(m->stream);
  for (aclTensor* t : m->t)
    if (t != nullptr) aclDestroyTensor(t);
  for (void* p : m->inputs)
    if (p != nullptr) aclrtFree(p);
  for (void* p : m->outputs)
    if (p != nullptr) aclrtFree(p);
  for (void* p : m->weights)
    if (p != nullptr) aclrtFree(p);
  if (m->arena != nullptr) aclrtFree(m->arena);
  if (m->workspace != nullptr) aclrtFree(m->workspace);
  if (m->stream != nullptr) aclrtDestroyStream(m->stream);
  if (m->device >= 0) aclrtResetDevice(m->device);
  if (m->acl_ready) aclFinalize();
  delete m;
}}

int input_count() {{ return kInputs; }}
int output_count() {{ return kOutputs; }}
size_t input_bytes(int i) {{ return kInputBytes[i]; }}
size_t output_bytes(int j) {{ return kOutputBytes[j]; }}
const char* input_name(int i) {{ return kInputNames[i]; }}

// Synchronizes the stream when a run ends early, before its parameters are destroyed.
struct StreamGuard {{
  aclrtStream stream;
  ~StreamGuard() {{ aclrtSynchronizeStream(stream); }}
}};

int run(Model* m, const void* const* inputs, void* const* outputs) {{
  // The device's context on this thread (a run may come from another thread than create).
  FUSER_CHECK(aclrtSetDevice(m->device));
  Parameters parameters;
  StreamGuard guard{{m->stream}};
  auto ints = [&parameters](std::vector<int64_t> values) {{
    aclIntArray* array = aclCreateIntArray(values.data(), values.size());
    parameters.failed |= array == nullptr;
    parameters.arrays.push_back(array);
    return array;
  }};
  auto scalar = [&parameters](double value) {{
    float narrow = static_cast<float>(value);
    aclScalar* s = aclCreateScalar(&narrow, ACL_FLOAT);
    parameters.failed |= s == nullptr;
    parameters.scalars.push_back(s);
    return s;
  }};
  auto tensors = [&parameters](std::vector<const aclTensor*> values) {{
    aclTensorList* l = aclCreateTensorList(values.data(), values.size());
    parameters.failed |= l == nullptr;
    parameters.lists.push_back(l);
    return l;
  }};
  (void)ints;
  (void)scalar;
  (void)tensors;
  for (int i = 0; i < kInputs; ++i)
    if (kInputBytes[i] != 0)
      FUSER_CHECK(aclrtMemcpy(m->inputs[i], kInputBytes[i], inputs[i], kInputBytes[i], ACL_MEMCPY_HOST_TO_DEVICE));
"#
    );
    text.push_str(&body);
    for &(from, to) in &program.output_copies {
        let j = match program.descriptors[to].storage {
            Storage::Output(j) => j,
            _ => unreachable!("output copies go to outputs"),
        };
        let _ = writeln!(
            text,
            "  {{  // output {j} is another value: copied\n    uint64_t workspace_bytes = 0;\n    aclOpExecutor* executor = nullptr;\n    FUSER_CHECK(aclnnInplaceCopyGetWorkspaceSize(m->t[{to}], m->t[{from}], &workspace_bytes, &executor));\n    FUSER_CHECK(reserve_workspace(m, workspace_bytes));\n    FUSER_CHECK(aclnnInplaceCopy(m->workspace, workspace_bytes, executor, m->stream));\n  }}"
        );
    }
    text.push_str(
        "  FUSER_CHECK(aclrtSynchronizeStream(m->stream));\n  for (int j = 0; j < kOutputs; ++j)\n    if (kOutputBytes[j] != 0)\n      FUSER_CHECK(aclrtMemcpy(outputs[j], kOutputBytes[j], m->outputs[j], kOutputBytes[j], ACL_MEMCPY_DEVICE_TO_HOST));\n  return 0;\n}\n\n}  // namespace fuser_model\n",
    );
    if !program.output_copies.is_empty() {
        text = text.replacen(
            "#include \"acl/acl.h\"\n",
            "#include \"acl/acl.h\"\n#include \"aclnnop/aclnn_copy.h\"\n",
            1,
        );
    }
    let mut files = vec![
        File {
            path: "model.h".into(),
            bytes: HEADER.as_bytes().to_vec(),
        },
        File {
            path: "model.cpp".into(),
            bytes: text.into_bytes(),
        },
        File {
            path: "main.cpp".into(),
            bytes: MAIN.as_bytes().to_vec(),
        },
    ];
    for (k, bytes) in program.weights.into_iter().enumerate() {
        files.push(File {
            path: format!("weights/w{k}.bin"),
            bytes,
        });
    }
    Ok(files)
}
