//! `fuser run --target cuda`: a model compiled for the NVIDIA GPU of this machine
//! (device 0) and run there through `fuser_gpu_runtime`.

use fuser_dialects::{
    constants::{tensor_bytes, tensor_from_bytes},
    eval::Weights,
    semantics::Tensor,
};
use fuser_gpu_runtime::{CudaModel, compute_capability};
use fuser_passes::{
    gpu_target::{GpuRequest, GpuStop, GpuTarget, lower_for_gpu},
    phases::Fusion,
};
use melior::{Context, ir::Module};

/// The CUDA target of device 0: `sm_90` from compute capability 9.0 up, `sm_80` for 8.x.
fn device_target() -> Result<GpuTarget, String> {
    let (major, minor) = compute_capability().map_err(|e| e.to_string())?;
    let chip = match major {
        9.. => "sm_90",
        8 => "sm_80",
        _ => {
            return Err(format!(
                "the GPU has compute capability {major}.{minor}; fuser's CUDA targets need 8.0 or newer"
            ));
        }
    };
    Ok(GpuTarget::cuda(chip))
}

/// A model loaded on the GPU, with its outputs' types.
pub struct CudaRun {
    pub model: CudaModel,
    pub outputs: Vec<fuser_dialects::semantics::TypeInfo>,
}

/// Compiles `module` (entry `function`) for the GPU of this machine and loads it;
/// `tensor_cores`: f16 contractions on tensor cores (mma.sync).
pub fn load_on_cuda(
    context: &Context,
    module: &mut Module,
    function: &str,
    weights: &Weights,
    tensor_cores: bool,
) -> Result<CudaRun, String> {
    let target = device_target()?;
    let request = GpuRequest {
        function,
        weights,
        target,
        fusion: Fusion::default(),
        up_to: GpuStop::Binary,
        tensor_cores,
    };
    let lowered = lower_for_gpu(context, module, &request).map_err(|e| e.message)?;
    let constants = lowered.constant_data(module)?;
    let ptx = lowered.assembly.clone().ok_or("no device code was made")?;
    let plan = lowered.plan.clone().ok_or("no host plan was made")?;
    let model = CudaModel::load(&ptx, plan, &constants).map_err(|e| e.to_string())?;
    Ok(CudaRun {
        model,
        outputs: lowered.outputs,
    })
}

impl CudaRun {
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
        let bytes: Vec<Vec<u8>> = inputs.iter().map(tensor_bytes).collect();
        let slices: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
        let raw = self.model.run(&slices, self.outputs.len()).map_err(|e| e.to_string())?;
        raw.iter()
            .zip(&self.outputs)
            .map(|(bytes, info)| {
                tensor_from_bytes(info.dtype, &info.static_shape().unwrap_or_default(), bytes)
                    .ok_or_else(|| "an output of the wrong size".to_string())
            })
            .collect()
    }
}
