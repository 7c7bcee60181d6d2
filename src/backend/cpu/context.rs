//! The execution context every CPU kernel runs in: a private rayon thread pool of a chosen
//! size and the instruction set the micro-kernels were selected for.
//!
//! Kernels split their work into pieces whose boundaries depend only on the tensor shapes,
//! never on the number of threads, and combine partial results in a fixed order. Results are
//! therefore bit-identical from run to run *and* for any thread count.

use std::fmt;
use std::sync::Arc;

use super::error::CpuError;
use super::simd::Isa;

/// A handle on the worker pool and instruction set used by the kernels. Cheap to clone.
///
/// Every kernel takes a `&Cpu` and runs on its pool. Entering a pool costs a few
/// microseconds; a training loop should wrap each whole step in [`Cpu::install`] so that the
/// kernels it calls find themselves already inside the pool and run without that cost.
#[derive(Clone)]
pub struct Cpu {
    pool: Arc<rayon::ThreadPool>,
    threads: usize,
    isa: Isa,
}

impl Cpu {
    /// A context with `threads` worker threads and the fastest instruction set this machine
    /// supports.
    pub fn new(threads: usize) -> Result<Cpu, CpuError> {
        Cpu::build(threads, Isa::detect())
    }

    /// A context that uses the kernels of a given instruction set (one of
    /// [`Isa::supported`]); meant for testing every code path and comparing them.
    pub fn with_isa(threads: usize, isa: Isa) -> Result<Cpu, CpuError> {
        if !Isa::supported().contains(&isa) {
            return Err(CpuError::UnsupportedIsa {
                isa: format!("{isa:?}"),
            });
        }
        Cpu::build(threads, isa)
    }

    /// The number of hardware threads available to this process (at least 1).
    pub fn available_threads() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    fn build(threads: usize, isa: Isa) -> Result<Cpu, CpuError> {
        if threads == 0 {
            return Err(CpuError::ZeroThreads);
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("qnnc-cpu-{i}"))
            .build()
            .map_err(|e| CpuError::ThreadPool {
                threads,
                reason: e.to_string(),
            })?;
        Ok(Cpu {
            pool: Arc::new(pool),
            threads,
            isa,
        })
    }

    /// The number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The instruction set the micro-kernels use.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Runs `f` on one of this context's worker threads; kernels called inside it use the
    /// pool directly.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }
}

impl fmt::Debug for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cpu")
            .field("threads", &self.threads)
            .field("isa", &self.isa)
            .finish()
    }
}
