//! The cost model: a kernel's time on a target is its roofline,
//! `max(flops / peak, bytes moved / bandwidth) + launch overhead`, where the bytes are
//! the kernel's inputs read once and its result written once. Fusing a producer into its
//! consumer saves the intermediate's write and read and one launch; recomputing a shared
//! producer in two kernels pays its flops twice. Constants cost nothing (they fold at
//! compile time), and pure views cost nothing (they are not kernels).

use fuser_dialects::semantics::{Attrs, TypeInfo};

/// One target's numbers.
#[derive(Clone, Copy, Debug)]
pub struct TargetModel {
    /// As `graph-eqsat-fuse{target=...}` names it.
    pub name: &'static str,
    /// FP32 operations per second.
    pub peak_flops: f64,
    /// Main-memory bytes per second.
    pub bandwidth: f64,
    /// Seconds to start one kernel.
    pub launch: f64,
    /// Where the numbers come from.
    pub source: &'static str,
}

/// Every target's numbers, in one table.
pub const TARGETS: [TargetModel; 4] = [
    TargetModel {
        name: "cpu",
        peak_flops: 120e9,
        bandwidth: 10e9,
        launch: 2e-6,
        source: "measured on this project's 2-core AVX-512 machine with \
                 `.venv/bin/python bench/cpu_roofline.py ./target/release/fuser --threads 2`: the best \
                 float32 matrix product (numpy 113-128, fuser 118 GFLOP/s), numpy copy bandwidth \
                 (9.7-10.4 GB/s read + write), the latency of a one-kernel model (1.5-3.1 us)",
    },
    TargetModel {
        name: "cuda:sm_90",
        peak_flops: 67e12,
        bandwidth: 3.35e12,
        launch: 4e-6,
        source: "NVIDIA H100 Tensor Core GPU datasheet (SXM5): 67 TFLOPS FP32, 3.35 TB/s HBM3; \
                 launch overhead: CUDA C++ Best Practices Guide order of magnitude (a few us)",
    },
    TargetModel {
        name: "rocm:gfx942",
        peak_flops: 163.4e12,
        bandwidth: 5.3e12,
        launch: 5e-6,
        source: "AMD Instinct MI300X datasheet: 163.4 TFLOPS FP32 vector, 5.3 TB/s HBM3; launch \
                 overhead: ROCm HIP documentation order of magnitude (a few us)",
    },
    TargetModel {
        name: "ascend:910b",
        peak_flops: 94e12,
        bandwidth: 1.6e12,
        launch: 10e-6,
        source: "Huawei Ascend 910B public specifications: about 376 TFLOPS FP16 (FP32 taken as a \
                 quarter), 1.6 TB/s HBM2e; launch overhead: CANN aclnn two-phase call, order of 10 us",
    },
];

pub fn target(name: &str) -> Option<&'static TargetModel> {
    TARGETS.iter().find(|t| t.name == name)
}

/// One op of a kernel, as the cost model sees it.
pub struct StepShape<'a> {
    pub op: &'a str,
    pub attrs: &'a Attrs,
    /// Per operand slot; `None` where the optional operand is absent.
    pub operands: Vec<Option<&'a TypeInfo>>,
    pub result: &'a TypeInfo,
}

/// Elements of a type, dynamic dims counted as 1.
pub fn elements(ty: &TypeInfo) -> f64 {
    ty.shape.iter().map(|d| d.unwrap_or(1).max(0) as f64).product()
}

pub fn bytes(ty: &TypeInfo) -> f64 {
    elements(ty) * ty.dtype.size() as f64
}

/// Ops whose elementwise cost is that of a transcendental function, not one instruction.
const TRANSCENDENTAL: &[&str] = &[
    "exp", "log", "tanh", "sigmoid", "gelu", "erf", "softplus", "elu", "selu", "pow", "sin", "cos", "mish",
];

/// The floating-point operations of one op (multiply-adds count two).
pub fn flops(step: &StepShape) -> f64 {
    let out = elements(step.result);
    let input = |slot: usize| step.operands.get(slot).copied().flatten();
    let window = |name: &str| {
        step.attrs
            .ints(name)
            .map(|k| k.iter().product::<i64>() as f64)
            .unwrap_or(1.0)
    };
    match step.op {
        // Four 8-bit multiply-adds per 32-bit lane (VNNI, DP4A, int8 tensor cores): a
        // quarter of the f32 time at the same peak.
        "ftensor.quantized_conv" | "ftensor.quantized_mat_mul" => {
            let float = StepShape {
                op: if step.op == "ftensor.quantized_conv" {
                    "conv"
                } else {
                    "mat_mul"
                },
                attrs: step.attrs,
                operands: step.operands.clone(),
                result: step.result,
            };
            flops(&float) / 4.0
        }
        "conv" => {
            let per_group_in = input(1).and_then(|w| w.shape.get(1).copied().flatten()).unwrap_or(1) as f64;
            let taps = input(1).map_or(1.0, |w| w.shape.iter().skip(2).map(|d| d.unwrap_or(1) as f64).product());
            2.0 * out * per_group_in * taps
        }
        "conv_transpose" => {
            let w = input(1).map_or(1.0, elements);
            let x = input(0).map_or(1.0, elements);
            let cin = input(0).and_then(|x| x.shape.get(1).copied().flatten()).unwrap_or(1) as f64;
            2.0 * x * w / cin.max(1.0)
        }
        "mat_mul" | "matmul" | "gemm" => {
            let k = input(0).and_then(|a| {
                let transposed = step.op == "gemm" && step.attrs.int("trans_a").unwrap_or(0) != 0;
                let dim = if transposed { a.shape.first() } else { a.shape.last() };
                dim.copied().flatten()
            });
            2.0 * out * k.unwrap_or(1) as f64 + if step.op == "gemm" { out } else { 0.0 }
        }
        "max_pool" | "average_pool" | "lp_pool" => out * window("kernel_shape"),
        "global_average_pool"
        | "global_max_pool"
        | "reduce_sum"
        | "reduce_mean"
        | "reduce_max"
        | "reduce_min"
        | "reduce_prod"
        | "reduce_l1"
        | "reduce_l2"
        | "reduce_sum_square"
        | "reduce_log_sum_exp"
        | "arg_max"
        | "arg_min" => input(0).map_or(out, elements),
        "softmax" | "log_softmax" => 12.0 * out,
        "layer_normalization" | "instance_normalization" | "group_normalization" | "lrn" => 8.0 * out,
        "batch_normalization" => 2.0 * out,
        op if TRANSCENDENTAL.contains(&op) => 10.0 * out,
        "add" | "sub" | "mul" | "div" | "relu" | "leaky_relu" | "clip" | "neg" | "abs" | "max" | "min" | "sqrt"
        | "hard_sigmoid" | "hard_swish" | "p_relu" | "reciprocal" | "where" | "equal" | "less" | "greater" => out,
        // Data movement: no arithmetic, only bytes.
        _ => 0.0,
    }
}

/// The roofline time of one kernel of `steps`, reading `inputs` and writing `output`.
pub fn kernel_time(target: &TargetModel, steps: &[StepShape], inputs: &[&TypeInfo], output: &TypeInfo) -> f64 {
    let work: f64 = steps.iter().map(flops).sum();
    let moved: f64 = inputs.iter().map(|t| bytes(t)).sum::<f64>() + bytes(output);
    (work / target.peak_flops).max(moved / target.bandwidth) + target.launch
}
