//! Float to bfloat16 conversions that LLVM calls as library functions when the CPU has no
//! native conversion (no AVX512_BF16): `fptrunc float|double to bfloat` becomes a call of
//! `__truncsfbf2` / `__truncdfbf2`, which neither this toolchain's libgcc nor the JIT
//! provides. Rounding is to nearest, ties to even, as the instruction does; NaN stays NaN.
//!
//! The x86-64 ABI returns a `__bf16` in the low 16 bits of `xmm0`, which is where a
//! returned `f32` whose bit pattern is the bfloat16's bits puts them.

use half::bf16;

/// `float` → `bfloat`.
#[unsafe(no_mangle)]
pub extern "C" fn __truncsfbf2(x: f32) -> f32 {
    f32::from_bits(u32::from(bf16::from_f32(x).to_bits()))
}

/// `double` → `bfloat`, rounded once: first to `float` rounding to odd (exact about
/// ties, since `float` keeps 16 more bits than `bfloat`), then to nearest even.
#[unsafe(no_mangle)]
pub extern "C" fn __truncdfbf2(x: f64) -> f32 {
    if x.is_nan() {
        return __truncsfbf2(x as f32);
    }
    let mut t = x as f32;
    if f64::from(t) != x {
        if f64::from(t).abs() > x.abs() {
            // Toward zero (from infinity too: to the largest float).
            t = f32::from_bits(t.to_bits() - 1);
        }
        t = f32::from_bits(t.to_bits() | 1);
    }
    __truncsfbf2(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_nearest_even() {
        for (x, expected) in [
            (1.0f32, 0x3F80u16),
            (1.0 + 1.0 / 256.0, 0x3F80), // halfway between 0x3F80 and 0x3F81: ties to even
            (1.0 + 3.0 / 256.0, 0x3F82), // halfway between 0x3F81 and 0x3F82: ties to even
            (-2.5, 0xC020),
            (f32::INFINITY, 0x7F80),
            (3.4e38, 0x7F80), // rounds up past the largest bfloat16
        ] {
            assert_eq!(__truncsfbf2(x).to_bits() as u16, expected, "{x}");
        }
        assert!(bf16::from_bits(__truncsfbf2(f32::NAN).to_bits() as u16).is_nan());
        // Just above a tie: rounding through float to nearest would land on the tie.
        assert_eq!(__truncdfbf2(1.00390625000001).to_bits() as u16, 0x3F81);
        assert_eq!(__truncdfbf2(1.00390625).to_bits() as u16, 0x3F80);
        assert_eq!(__truncdfbf2(1e300).to_bits() as u16, 0x7F80);
        assert_eq!(__truncdfbf2(-1e-300).to_bits() as u16, 0x8000);
    }
}
