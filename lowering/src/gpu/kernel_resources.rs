//! What each kernel uses on the chip (registers, shared memory, spills) and the
//! theoretical occupancy that follows: for PTX as `ptxas -v` reports it, with the rules
//! of NVIDIA's occupancy calculator (registers, shared memory, warps and blocks per SM);
//! for AMDGPU from the `.amdhsa_kernel` directives of the assembly, with CDNA's rules
//! (VGPRs per SIMD, LDS per CU, waves per SIMD).

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One kernel's resources, from ptxas.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KernelResources {
    pub registers: u32,
    /// Static shared memory per block.
    pub shared_bytes: u32,
    pub spill_store_bytes: u32,
    pub spill_load_bytes: u32,
}

/// Parses the output of `ptxas -v`: each kernel's registers, shared memory and spills.
pub fn parse_ptxas_log(log: &str) -> BTreeMap<String, KernelResources> {
    let mut kernels = BTreeMap::new();
    let mut current: Option<String> = None;
    let number_before = |line: &str, unit: &str| -> Option<u32> {
        let at = line.find(unit)?;
        line[..at].split_whitespace().last()?.parse().ok()
    };
    for line in log.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            let name = rest.split('\'').next().unwrap_or_default().to_string();
            kernels.insert(name.clone(), KernelResources::default());
            current = Some(name);
        } else if let Some(rest) = line.split("Function properties for ").nth(1) {
            let name = rest.trim().to_string();
            current = kernels.contains_key(&name).then_some(name);
        } else if let Some(entry) = current.as_ref().and_then(|n| kernels.get_mut(n)) {
            if line.contains("spill stores") {
                entry.spill_store_bytes = number_before(line, "bytes spill stores").unwrap_or(0);
                entry.spill_load_bytes = number_before(line, "bytes spill loads").unwrap_or(0);
            }
            if line.contains("Used ") && line.contains("registers") {
                entry.registers = number_before(line, "registers").unwrap_or(0);
                entry.shared_bytes = number_before(line, "bytes smem").unwrap_or(0);
            }
        }
    }
    kernels
}

/// Runs `ptxas -v` on `ptx` for `chip` (sm_80, sm_90); the resources of each kernel.
pub fn ptxas_resources(ptxas: &Path, ptx: &str, chip: &str) -> Result<BTreeMap<String, KernelResources>, String> {
    let dir = std::env::temp_dir().join(format!("fuser-ptxas-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("a temporary folder for ptxas: {e}"))?;
    let input = dir.join("module.ptx");
    std::fs::write(&input, ptx).map_err(|e| format!("writing the PTX for ptxas: {e}"))?;
    let output = std::process::Command::new(ptxas)
        .arg(format!("-arch={chip}"))
        .arg("-v")
        .arg(&input)
        .arg("-o")
        .arg(dir.join("module.cubin"))
        .output()
        .map_err(|e| format!("running {}: {e}", ptxas.display()))?;
    let _ = std::fs::remove_dir_all(&dir);
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        return Err(format!("ptxas rejected the PTX:\n{log}"));
    }
    Ok(parse_ptxas_log(&log))
}

/// An SM's limits, per chip.
#[derive(Clone, Copy, Debug)]
pub struct SmLimits {
    pub max_warps: u32,
    pub max_blocks: u32,
    pub registers: u32,
    /// Shared memory an SM can give its blocks.
    pub shared_bytes: u32,
}

/// The limits of an SM of compute capability 8.0 (A100) or 9.0 (H100/H200), from the
/// CUDA C++ Programming Guide's table of technical specifications.
pub fn sm_limits(chip: &str) -> SmLimits {
    match chip {
        "sm_90" => SmLimits {
            max_warps: 64,
            max_blocks: 32,
            registers: 65536,
            shared_bytes: 228 * 1024,
        },
        _ => SmLimits {
            max_warps: 64,
            max_blocks: 32,
            registers: 65536,
            shared_bytes: 164 * 1024,
        },
    }
}

/// The fraction of an SM's warp slots that blocks of `threads` threads using
/// `resources` fill at most. Registers are allocated per warp in units of 256; each
/// block also takes 1 KB of shared memory the system reserves.
pub fn theoretical_occupancy(resources: &KernelResources, threads: u32, limits: SmLimits) -> f64 {
    let warps = threads.div_ceil(32).max(1);
    let by_warps = limits.max_warps / warps;
    let by_registers = if resources.registers == 0 {
        u32::MAX
    } else {
        let per_warp = (resources.registers * 32).div_ceil(256) * 256;
        limits.registers / (per_warp * warps)
    };
    let by_shared = limits.shared_bytes / (resources.shared_bytes + 1024);
    let blocks = limits.max_blocks.min(by_warps).min(by_registers).min(by_shared);
    f64::from(blocks * warps) / f64::from(limits.max_warps)
}

/// Each kernel's resources from the `.amdhsa_kernel` directives of AMDGPU assembly:
/// `registers` are the VGPRs (with AGPRs, unified on gfx90a/gfx942), `shared_bytes` the
/// LDS, and scratch (`private_segment_fixed_size`) counts as spill stores.
pub fn parse_amdgpu_assembly(assembly: &str) -> BTreeMap<String, KernelResources> {
    let mut kernels = BTreeMap::new();
    let mut current: Option<(String, KernelResources)> = None;
    for line in assembly.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some(".amdhsa_kernel"), Some(name)) => current = Some((name.to_string(), KernelResources::default())),
            (Some(".end_amdhsa_kernel"), _) => {
                if let Some((name, resources)) = current.take() {
                    kernels.insert(name, resources);
                }
            }
            (Some(directive), Some(value)) => {
                let (Some((_, resources)), Ok(value)) = (current.as_mut(), value.parse::<u32>()) else {
                    continue;
                };
                match directive {
                    ".amdhsa_next_free_vgpr" => resources.registers = value,
                    ".amdhsa_group_segment_fixed_size" => resources.shared_bytes = value,
                    ".amdhsa_private_segment_fixed_size" => resources.spill_store_bytes = value,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    kernels
}

/// The fraction of a CDNA SIMD's 8 wave slots (gfx90a, gfx942) that workgroups of
/// `threads` threads using `resources` fill at most: 512 VGPRs per lane of a SIMD,
/// allocated in units of 8; 64 KB of LDS per CU of 4 SIMDs; waves of 64 threads.
pub fn amd_theoretical_occupancy(resources: &KernelResources, threads: u32) -> f64 {
    const WAVES_PER_SIMD: u32 = 8;
    const SIMDS: u32 = 4;
    let waves = threads.div_ceil(64).max(1);
    let by_registers = 512 / resources.registers.max(1).div_ceil(8).saturating_mul(8).max(8);
    let simd_waves = WAVES_PER_SIMD.min(by_registers);
    // Workgroups a CU holds by its LDS, as waves per SIMD (a fraction when the CU holds
    // fewer waves than it has SIMDs).
    let by_lds = 65536u32
        .checked_div(resources.shared_bytes)
        .map_or(f64::INFINITY, |groups| f64::from(groups * waves) / f64::from(SIMDS));
    f64::from(simd_waves).min(by_lds) / f64::from(WAVES_PER_SIMD)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'k0_conv_kernel' for 'sm_90'
ptxas info    : Function properties for k0_conv_kernel
    0 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads
ptxas info    : Used 150 registers, used 1 barriers, 4096 bytes smem, 400 bytes cmem[0]
ptxas info    : Compiling entry function 'k1_relu_kernel' for 'sm_90'
ptxas info    : Function properties for k1_relu_kernel
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 12 registers, used 0 barriers, 380 bytes cmem[0]
";

    #[test]
    fn reads_registers_shared_memory_and_spills() {
        let kernels = parse_ptxas_log(LOG);
        assert_eq!(
            kernels["k0_conv_kernel"],
            KernelResources {
                registers: 150,
                shared_bytes: 4096,
                spill_store_bytes: 8,
                spill_load_bytes: 4
            }
        );
        assert_eq!(kernels["k1_relu_kernel"].registers, 12);
        assert_eq!(kernels["k1_relu_kernel"].shared_bytes, 0);
    }

    #[test]
    fn reads_amdhsa_directives() {
        let assembly = "\t.amdhsa_kernel k0\n\t\t.amdhsa_group_segment_fixed_size 4096\n\t\t.amdhsa_private_segment_fixed_size 0\n\t\t.amdhsa_next_free_vgpr 138\n\t\t.amdhsa_next_free_sgpr 96\n\t.end_amdhsa_kernel\n\t.amdhsa_kernel k1\n\t\t.amdhsa_private_segment_fixed_size 16\n\t\t.amdhsa_next_free_vgpr 12\n\t.end_amdhsa_kernel\n";
        let kernels = parse_amdgpu_assembly(assembly);
        assert_eq!(
            kernels["k0"],
            KernelResources {
                registers: 138,
                shared_bytes: 4096,
                spill_store_bytes: 0,
                spill_load_bytes: 0
            }
        );
        assert_eq!((kernels["k1"].registers, kernels["k1"].spill_store_bytes), (12, 16));
        // 138 VGPRs (144 allocated): 3 waves per SIMD of 8.
        assert_eq!(amd_theoretical_occupancy(&kernels["k0"], 64), 3.0 / 8.0);
        // 12 VGPRs: every slot.
        assert_eq!(amd_theoretical_occupancy(&kernels["k1"], 256), 1.0);
        // 32 KB of LDS per one-wave workgroup: 2 per CU, half a wave per SIMD.
        let lds = KernelResources {
            registers: 12,
            shared_bytes: 32768,
            ..Default::default()
        };
        assert_eq!(amd_theoretical_occupancy(&lds, 64), 0.5 / 8.0);
    }

    #[test]
    fn occupancy_follows_the_tightest_limit() {
        let limits = sm_limits("sm_90");
        let light = KernelResources {
            registers: 32,
            ..Default::default()
        };
        // 256 threads at 32 registers: 8 blocks of 8 warps fill all 64 slots.
        assert_eq!(theoretical_occupancy(&light, 256, limits), 1.0);
        // 150 registers (152 per thread after rounding to 256 per warp): 65536 / (4864·2)
        // = 6 blocks of 2 warps = 12 of 64 warps.
        let heavy = KernelResources {
            registers: 150,
            shared_bytes: 4096,
            ..Default::default()
        };
        assert_eq!(theoretical_occupancy(&heavy, 64, limits), 12.0 / 64.0);
        // Blocks of one warp: at most 32 blocks, half the warp slots.
        assert_eq!(theoretical_occupancy(&light, 32, limits), 0.5);
        // Shared memory: 100 KB blocks, two per SM on sm_90, one on sm_80.
        let shared = KernelResources {
            registers: 32,
            shared_bytes: 100 * 1024,
            ..Default::default()
        };
        assert_eq!(theoretical_occupancy(&shared, 256, limits), 16.0 / 64.0);
        assert_eq!(theoretical_occupancy(&shared, 256, sm_limits("sm_80")), 8.0 / 64.0);
    }
}
