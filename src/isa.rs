//! The instruction sets qnnc's kernels are built for, detected once at run time: the CPU
//! executor's float GEMM (`backend::cpu::simd`) and the program simulator's integer kernels
//! (`backend::nsoc::sim::kernels`) both dispatch on [`Isa`]. The simulator's AVX2 kernels need
//! only AVX2 and take [`Isa::Avx2Fma`] and [`Isa::Avx512`] alike.

/// The instruction set the kernels are compiled for at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Plain Rust loops, vectorised only as far as the compiler's baseline target allows.
    /// Multiplies and adds are rounded separately.
    Portable,
    /// x86-64 AVX2 with fused multiply-add (one rounding per multiply-add).
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    /// [`Isa::Avx2Fma`] plus AVX-512VL: the same 256-bit arithmetic (identical results), but
    /// the GEMM micro-kernels get 32 vector registers instead of 16, so their accumulators
    /// never spill.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Isa {
    /// Every instruction set this machine supports, the best last.
    pub fn supported() -> Vec<Isa> {
        match Isa::detect() {
            Isa::Portable => vec![Isa::Portable],
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => vec![Isa::Portable, Isa::Avx2Fma],
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => vec![Isa::Portable, Isa::Avx2Fma, Isa::Avx512],
        }
    }

    /// The best instruction set this machine supports.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma");
            let avx512 = std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl");
            match (avx2, avx512) {
                (true, true) => return Isa::Avx512,
                (true, false) => return Isa::Avx2Fma,
                _ => {}
            }
        }
        Isa::Portable
    }
}
