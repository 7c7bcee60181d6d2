//! Deterministic work splitting on the context's pool.
//!
//! Work is cut into tasks of a size computed from the problem alone (never from the thread
//! count), each task writes a disjoint part of the output or its own partial result, and
//! partial results are combined in task order ([`reduce_tasks`]). Scheduling can therefore
//! change which thread runs a task, but never what is computed.

use rayon::prelude::*;

use super::buffer::scratch;
use super::context::Cpu;
use super::simd::dispatch;

/// The amount of work (roughly, multiply-adds) worth one task: large enough to hide the cost of
/// handing a task to a thread, small enough to balance two or more threads on a training batch.
const TASK_WORK: usize = 1 << 15;

/// How many consecutive items one task takes when each item costs `work_per_item`.
pub(crate) fn items_per_task(items: usize, work_per_item: usize) -> usize {
    (TASK_WORK / work_per_item.max(1)).clamp(1, items.max(1))
}

/// Calls `f(task, chunk)` for consecutive chunks of `chunk_len` elements of `data`, in
/// parallel on the current pool (inline when there is a single chunk).
pub(crate) fn for_each_chunk<T, F>(data: &mut [T], chunk_len: usize, f: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    assert!(chunk_len > 0, "chunks must not be empty");
    if data.len() <= chunk_len {
        if !data.is_empty() {
            f(0, data);
        }
        return;
    }
    data.par_chunks_mut(chunk_len)
        .enumerate()
        .for_each(|(i, c)| f(i, c));
}

/// Like [`for_each_chunk`] over two slices cut into the same number of chunks (`a_len` and
/// `b_len` elements per chunk).
pub(crate) fn for_each_chunk2<T, U, F>(a: &mut [T], a_len: usize, b: &mut [U], b_len: usize, f: F)
where
    T: Send,
    U: Send,
    F: Fn(usize, &mut [T], &mut [U]) + Sync + Send,
{
    assert!(a_len > 0 && b_len > 0, "chunks must not be empty");
    assert_eq!(
        a.len().div_ceil(a_len),
        b.len().div_ceil(b_len),
        "both slices must split into the same number of chunks"
    );
    if a.len() <= a_len {
        if !a.is_empty() {
            f(0, a, b);
        }
        return;
    }
    a.par_chunks_mut(a_len)
        .zip(b.par_chunks_mut(b_len))
        .enumerate()
        .for_each(|(i, (x, y))| f(i, x, y));
}

/// f32s per cache line.
const LINE: usize = 16;

/// The scratch memory of [`reduce_tasks`] (the tasks' partial results and their total), kept
/// by the caller across batches.
#[derive(Debug, Default)]
pub(crate) struct Partials {
    parts: Vec<f32>,
    total: Vec<f32>,
}

/// Runs `f(task, acc)` for tasks `0..tasks`, each accumulating into its own zeroed `acc` of
/// `width` values, then adds the partial results in task order and returns their total.
/// Partials sit whole cache lines apart, so tasks never write to a line another task uses.
/// `f` runs with the context's instruction set (see [`dispatch`]).
pub(crate) fn reduce_tasks<'a, F>(
    cx: &Cpu,
    tasks: usize,
    width: usize,
    sums: &'a mut Partials,
    f: F,
) -> &'a [f32]
where
    F: Fn(usize, &mut [f32]) + Sync + Send,
{
    assert!(tasks > 0 && width > 0, "reductions need work and a result");
    let stride = width.next_multiple_of(LINE) + LINE;
    let parts = scratch(&mut sums.parts, tasks * stride);
    let isa = cx.isa();
    cx.install(|| {
        for_each_chunk(parts, stride, |t, slot| {
            let acc = &mut slot[..width];
            acc.fill(0.0);
            dispatch(
                isa,
                #[inline(always)]
                || f(t, acc),
            );
        });
    });
    let out = scratch(&mut sums.total, width);
    out.copy_from_slice(&parts[..width]);
    for part in parts[stride..].chunks_exact(stride) {
        for (o, &p) in out.iter_mut().zip(part) {
            *o += p;
        }
    }
    out
}

/// Elementwise pass: `f(first, out)` fills each task's piece `out` of `ys`, which starts at
/// element `first`; pieces are whole multiples of `unit` elements (rows of a matrix, say).
/// `f` runs with the context's instruction set (see [`dispatch`]).
pub(crate) fn map_spans<F>(cx: &Cpu, unit: usize, ys: &mut [f32], f: F)
where
    F: Fn(usize, &mut [f32]) + Sync + Send,
{
    let unit = unit.max(1);
    let per = items_per_task(ys.len() / unit, unit) * unit;
    let isa = cx.isa();
    cx.install(|| {
        for_each_chunk(ys, per, |t, out| {
            dispatch(
                isa,
                #[inline(always)]
                || f(t * per, out),
            )
        });
    });
}
