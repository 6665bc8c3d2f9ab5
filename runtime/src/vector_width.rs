//! Which vector width the f32 kernels use on an AVX-512 CPU.
//!
//! AVX-512 pays where a 512-bit multiply-add does twice the work of a 256-bit one in the
//! same time (Intel's AVX-512 cores, AMD Zen 5). AMD Zen 4 splits each 512-bit operation
//! into two 256-bit halves: the same multiply-adds a cycle as AVX2 (`fma_peak`: 117
//! GFLOP/s a thread with zmm and with ymm on an EPYC of family 0x19), so its wider loops
//! gain nothing there, and the AVX2 tier's channel-blocked convs, written and tuned for
//! 16 ymm registers, beat the AVX-512 tier's register-tiled ones (ResNet-50 at 1.24 of
//! onnxruntime's time against 1.53, MobileNetV2 1.32 against 1.58, in one
//! `bench/interleaved_ort.py` run each; docs/performance.md).
//!
//! `FUSER_VECTOR_BITS=256` or `512` in the environment overrides the choice (512 only
//! where the CPU has AVX-512F), for measuring one tier against the other on one machine,
//! and for testing both. On the AVX2 tier of a CPU with AVX-512F, the channel-blocked
//! conv's units of 32 channels and the register-tiled blocks of 16 columns sum in 512-bit
//! vectors (`blocked_conv::zmm`, `register_tiled::avx2::zmm`: fewer instructions for the
//! same multiply-adds), and so do the elementwise and row loops (softmax, layer
//! normalization, GELU: `fused::dispatch!`), but for `FUSER_VECTOR_BITS=256`
//! ([`zmm_on_avx2_tier`]); so do the Winograd convs' sums (`winograd`), whose 256-bit loop
//! gives the same bits. The
//! choice is made once per process; it also decides whether the compiler lays convs out
//! in channel blocks (`ftensor-blocked-layout{target=host}`).
//! It governs the f32 kernels only: the INT8 kernels take AVX-512 VNNI wherever the CPU
//! has it, and the `gemm` crate (the f32 products no runtime kernel takes) picks its own.

/// Whether the f32 kernels take their AVX-512 loops (see the module's docs).
#[cfg(target_arch = "x86_64")]
pub fn wide_vectors() -> bool {
    static WIDE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WIDE.get_or_init(|| {
        let avx512 = std::arch::is_x86_feature_detected!("avx512f");
        match std::env::var("FUSER_VECTOR_BITS").as_deref() {
            Ok("256") => false,
            Ok("512") => avx512,
            _ => avx512 && !splits_512_bit_operations(),
        }
    })
}

/// Whether kernels of the AVX2 tier sum in 512-bit vectors where they have such a loop
/// (`blocked_conv::zmm`, `register_tiled::avx2::zmm`, the AVX-512 row loops of
/// `fused::dispatch!`): the CPU has AVX-512F but runs the
/// AVX2 tier (AMD Zen 4, see the module's docs), and `FUSER_VECTOR_BITS` is not 256. The
/// same multiply-adds in fewer instructions, with the same bits (the Winograd convs' sums
/// too).
#[cfg(target_arch = "x86_64")]
pub fn zmm_on_avx2_tier() -> bool {
    static ZMM: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ZMM.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx512f")
            && !wide_vectors()
            && std::env::var("FUSER_VECTOR_BITS").as_deref() != Ok("256")
    })
}

/// Not x86: no AVX-512.
#[cfg(not(target_arch = "x86_64"))]
pub fn wide_vectors() -> bool {
    false
}

/// Whether this is an AMD Zen 4 (family 0x19 with AVX-512), whose 512-bit operations
/// take two passes through 256-bit units. Zen 3 shares the family but has no AVX-512.
#[cfg(target_arch = "x86_64")]
fn splits_512_bit_operations() -> bool {
    use std::arch::x86_64::__cpuid;
    #[allow(unused_unsafe)]
    // SAFETY: CPUID exists on every x86-64 CPU; leaves 0 and 1 always exist.
    let (vendor, signature) = unsafe { (__cpuid(0), __cpuid(1).eax) };
    let amd = [vendor.ebx, vendor.edx, vendor.ecx] == [0x6874_7541, 0x6974_6e65, 0x444d_4163];
    amd && family(signature) == 0x19
}

/// The CPU family of a CPUID leaf 1 signature: the base family, plus the extended one
/// where the base is 0xF.
#[cfg(any(target_arch = "x86_64", test))]
fn family(signature: u32) -> u32 {
    let base = (signature >> 8) & 0xF;
    match base {
        0xF => base + ((signature >> 20) & 0xFF),
        _ => base,
    }
}

#[cfg(test)]
mod tests {
    use super::family;

    /// `FUSER_VECTOR_BITS` decides the tier where it is set (as `make test` sets it for
    /// its second and third runs of the runtime's tests).
    #[test]
    fn the_environment_picks_the_tier() {
        let wide = crate::fused::has_avx512();
        #[cfg(target_arch = "x86_64")]
        match std::env::var("FUSER_VECTOR_BITS").as_deref() {
            Ok("256") => assert!(!wide),
            Ok("512") => assert_eq!(wide, std::arch::is_x86_feature_detected!("avx512f")),
            _ => {}
        }
        #[cfg(not(target_arch = "x86_64"))]
        assert!(!wide);
    }

    #[test]
    fn families_of_known_signatures() {
        // AMD EPYC 9004 (Zen 4, family 0x19 model 0x11), EPYC 9005 (Zen 5, 0x1A), Intel
        // Sapphire Rapids (family 6: no extended family added).
        assert_eq!(family(0x00A1_0F11), 0x19);
        assert_eq!(family(0x00B0_0F21), 0x1A);
        assert_eq!(family(0x0008_06F8), 6);
    }
}
