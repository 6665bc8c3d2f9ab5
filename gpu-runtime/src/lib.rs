//! fuser's host runtime for NVIDIA GPUs: it runs a host plan (buffers and kernel
//! launches, `fuser_lowering::gpu::host_plan`) with the PTX module the launches name,
//! through the CUDA driver API.
//!
//! The driver (`libcuda.so`) is loaded at run time by `cudarc` (its `dynamic-loading`
//! feature), so fuser builds, links and tests on machines without CUDA; there
//! [`CudaModel::load`] says that no driver was found instead of failing to start.
//!
//! # Safety
//! Every driver call is made with the primary context of device 0 current on the calling
//! thread; the uploads and downloads are synchronous, and ordered after the model's
//! stream by waiting on it first; device pointers come from `cuMemAlloc` and are freed
//! once, on drop; the kernel parameter array points into `argument_values`, which lives
//! as long as the model.

use cudarc::driver::{result, sys};
use fuser_lowering::gpu::host_plan::{Arg, BufferKind, HostPlan};
use std::ffi::{CString, c_void};

/// Why the GPU could not be used or the model did not run.
#[derive(Debug)]
pub struct CudaError(pub String);

impl std::fmt::Display for CudaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CudaError {}

fn driver(what: &str) -> impl Fn(result::DriverError) -> CudaError + '_ {
    move |e| CudaError(format!("{what}: {e:?}"))
}

/// The CUDA driver and device 0, ready for use: its name.
pub fn open_device() -> Result<(sys::CUdevice, String), CudaError> {
    // SAFETY: only asks whether the library loads.
    if !unsafe { sys::is_culib_present() } {
        return Err(CudaError(
            "no NVIDIA driver found (libcuda.so could not be loaded): --target cuda needs an NVIDIA GPU and its driver"
                .into(),
        ));
    }
    result::init().map_err(driver("the CUDA driver did not initialize"))?;
    let count = result::device::get_count().map_err(driver("counting CUDA devices"))?;
    if count == 0 {
        return Err(CudaError("the CUDA driver sees no GPU".into()));
    }
    let device = result::device::get(0).map_err(driver("opening CUDA device 0"))?;
    let name = result::device::get_name(device).map_err(driver("naming CUDA device 0"))?;
    Ok((device, name))
}

/// The compute capability (major, minor) of device 0.
pub fn compute_capability() -> Result<(i32, i32), CudaError> {
    use sys::CUdevice_attribute::{
        CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR as MAJOR, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR as MINOR,
    };
    let (device, _) = open_device()?;
    // SAFETY: the device handle is valid; these are plain integer queries.
    unsafe {
        Ok((
            result::device::get_attribute(device, MAJOR).map_err(driver("reading the compute capability"))?,
            result::device::get_attribute(device, MINOR).map_err(driver("reading the compute capability"))?,
        ))
    }
}

/// A model loaded on the GPU: its module, its buffers, and each launch's function and
/// parameters.
pub struct CudaModel {
    device: sys::CUdevice,
    module: sys::CUmodule,
    /// The stream every launch goes to (a created one: the legacy default stream cannot
    /// be captured into a graph).
    stream: sys::CUstream,
    /// All launches captured once as a CUDA graph and replayed with one call: the
    /// launches of a plan never change, and one graph launch costs far less on the host
    /// than hundreds of kernel launches.
    graph: Option<(sys::CUgraph, sys::CUgraphExec)>,
    plan: HostPlan,
    buffers: Vec<sys::CUdeviceptr>,
    functions: Vec<sys::CUfunction>,
    /// Per launch, the 8-byte kernel parameters (pointers, offsets, sizes, strides).
    argument_values: Vec<Vec<u64>>,
    /// The GPU's name.
    pub device_name: String,
}

impl CudaModel {
    /// Loads `ptx` (the device module) on device 0, allocates every buffer of `plan`, and
    /// uploads the constants (`constants`: buffer index and bytes).
    pub fn load(ptx: &str, plan: HostPlan, constants: &[(usize, Vec<u8>)]) -> Result<CudaModel, CudaError> {
        let (device, device_name) = open_device()?;
        // SAFETY: see the crate note.
        unsafe {
            let context = result::primary_ctx::retain(device).map_err(driver("creating the CUDA context"))?;
            result::ctx::set_current(context).map_err(driver("making the CUDA context current"))?;
        }
        let image = CString::new(ptx).map_err(|_| CudaError("PTX with a NUL byte".into()))?;
        // SAFETY: the image is NUL-terminated PTX text; the driver copies it.
        let module = unsafe { result::module::load_data(image.as_ptr().cast()) }
            .map_err(driver("the driver did not load the PTX module"))?;
        let stream = result::stream::create(result::stream::StreamKind::NonBlocking)
            .map_err(driver("creating a CUDA stream"))?;
        let mut model = CudaModel {
            device,
            module,
            stream,
            graph: None,
            plan,
            buffers: Vec::new(),
            functions: Vec::new(),
            argument_values: Vec::new(),
            device_name,
        };
        for buffer in &model.plan.buffers {
            // A zero-byte buffer still gets a distinct address.
            // SAFETY: see the crate note.
            let pointer = unsafe { result::malloc_sync(buffer.bytes.max(1) as usize) }
                .map_err(driver("allocating device memory"))?;
            model.buffers.push(pointer);
        }
        for (index, bytes) in constants {
            let expected = model.plan.buffers.get(*index).map(|b| b.bytes as usize);
            if expected != Some(bytes.len()) {
                return Err(CudaError(format!(
                    "constant buffer {index} has {} bytes, the plan says {expected:?}",
                    bytes.len()
                )));
            }
            // SAFETY: the buffer holds `bytes.len()` bytes (checked above).
            unsafe { result::memcpy_htod_sync(model.buffers[*index], bytes) }
                .map_err(driver("uploading a constant"))?;
        }
        result::ctx::synchronize().map_err(driver("uploading the constants"))?;
        for launch in &model.plan.launches {
            let name = CString::new(launch.kernel.as_str()).map_err(|_| CudaError("a kernel name with NUL".into()))?;
            // SAFETY: the module is loaded; the name is NUL-terminated.
            let function = unsafe { result::module::get_function(model.module, name) }
                .map_err(|e| CudaError(format!("kernel {} is not in the PTX module: {e:?}", launch.kernel)))?;
            model.functions.push(function);
            let mut values = Vec::new();
            for arg in &launch.args {
                match arg {
                    Arg::Index(v) => values.push(*v as u64),
                    Arg::Memref(m) => {
                        let base = model.buffers[m.buffer] + m.byte_offset;
                        values.push(base);
                        values.push(base);
                        values.push(m.offset as u64);
                        values.extend(m.sizes.iter().map(|&s| s as u64));
                        values.extend(m.strides.iter().map(|&s| s as u64));
                    }
                }
            }
            model.argument_values.push(values);
        }
        model.capture_graph()?;
        Ok(model)
    }

    /// Records every launch into a CUDA graph, instantiated for replay.
    fn capture_graph(&mut self) -> Result<(), CudaError> {
        // SAFETY: the stream is valid; capture records the launches without running them.
        unsafe {
            result::stream::begin_capture(
                self.stream,
                sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL,
            )
            .map_err(driver("starting a graph capture"))?;
            let launched = self.launch_each();
            let graph = result::stream::end_capture(self.stream).map_err(driver("ending a graph capture"))?;
            launched?;
            let exec = result::graph::instantiate(graph, sys::CUgraphInstantiate_flags(0))
                .map_err(driver("instantiating the launch graph"))?;
            self.graph = Some((graph, exec));
        }
        Ok(())
    }

    /// The buffer of input `index` (or output, with `output`).
    fn boundary(&self, index: usize, output: bool) -> Option<(sys::CUdeviceptr, usize)> {
        self.plan
            .buffers
            .iter()
            .zip(&self.buffers)
            .find_map(|(b, &p)| match b.kind {
                BufferKind::Input { index: i } if !output && i == index => Some((p, b.bytes as usize)),
                BufferKind::Output { index: i } if output && i == index => Some((p, b.bytes as usize)),
                _ => None,
            })
    }

    /// Uploads the inputs (their bytes, in order).
    pub fn set_inputs(&self, inputs: &[&[u8]]) -> Result<(), CudaError> {
        // Runs still in flight may read the inputs.
        self.synchronize()?;
        for (i, bytes) in inputs.iter().enumerate() {
            let (pointer, size) = self
                .boundary(i, false)
                .ok_or_else(|| CudaError(format!("the plan has no input {i}")))?;
            if size != bytes.len() {
                return Err(CudaError(format!(
                    "input {i} has {} bytes, the model takes {size}",
                    bytes.len()
                )));
            }
            // SAFETY: the buffer holds `size` bytes.
            unsafe { result::memcpy_htod_sync(pointer, bytes) }.map_err(driver("uploading an input"))?;
        }
        // A copy from pageable memory may still be in flight when it returns, and the
        // model's stream does not wait for the default stream: wait for everything.
        result::ctx::synchronize().map_err(driver("uploading the inputs"))
    }

    /// Launches every kernel in order (one graph launch), without waiting.
    pub fn launch(&self) -> Result<(), CudaError> {
        match self.graph {
            // SAFETY: the graph and stream are valid.
            Some((_, exec)) => {
                unsafe { result::graph::launch(exec, self.stream) }.map_err(driver("launching the graph"))
            }
            None => self.launch_each(),
        }
    }

    /// Launches every kernel in order on the model's stream, one call each.
    fn launch_each(&self) -> Result<(), CudaError> {
        for ((launch, &function), values) in self
            .plan
            .launches
            .iter()
            .zip(&self.functions)
            .zip(&self.argument_values)
        {
            let mut parameters: Vec<*mut c_void> = values.iter().map(|v| v as *const u64 as *mut c_void).collect();
            // SAFETY: the parameters match the kernel's (the plan was made from it) and
            // point into `argument_values`, alive for the call.
            unsafe {
                result::launch_kernel(
                    function,
                    (launch.grid[0], launch.grid[1], launch.grid[2]),
                    (launch.block[0], launch.block[1], launch.block[2]),
                    launch.dynamic_shared_bytes,
                    self.stream,
                    &mut parameters,
                )
            }
            .map_err(|e| CudaError(format!("launching {}: {e:?}", launch.kernel)))?;
        }
        Ok(())
    }

    /// Waits for every launch to finish; reports a failed kernel.
    pub fn synchronize(&self) -> Result<(), CudaError> {
        // SAFETY: the stream is valid.
        unsafe { result::stream::synchronize(self.stream) }.map_err(driver("a kernel failed"))
    }

    /// Downloads output `index` (its bytes).
    pub fn output(&self, index: usize) -> Result<Vec<u8>, CudaError> {
        let (pointer, size) = self
            .boundary(index, true)
            .ok_or_else(|| CudaError(format!("the plan has no output {index}")))?;
        self.synchronize()?;
        let mut bytes = vec![0u8; size];
        // SAFETY: the buffer holds `size` bytes.
        unsafe { result::memcpy_dtoh_sync(&mut bytes, pointer) }.map_err(driver("downloading an output"))?;
        Ok(bytes)
    }

    /// Runs the model on `inputs` and returns the bytes of its `outputs` outputs.
    pub fn run(&self, inputs: &[&[u8]], outputs: usize) -> Result<Vec<Vec<u8>>, CudaError> {
        self.set_inputs(inputs)?;
        self.launch()?;
        self.synchronize()?;
        (0..outputs).map(|i| self.output(i)).collect()
    }

    /// The number of launches one run makes.
    pub fn launches(&self) -> usize {
        self.plan.launches.len()
    }
}

impl Drop for CudaModel {
    fn drop(&mut self) {
        // SAFETY: see the crate note; errors on the way out are ignored.
        unsafe {
            if let Some((graph, exec)) = self.graph.take() {
                let _ = result::graph::exec_destroy(exec);
                let _ = result::graph::destroy(graph);
            }
            let _ = result::stream::destroy(self.stream);
            for &pointer in &self.buffers {
                let _ = result::free_sync(pointer);
            }
            let _ = result::module::unload(self.module);
            let _ = result::primary_ctx::release(self.device);
        }
    }
}
