//! The prepared form of a program and the per-image execution loop.
//!
//! Preparation turns each layer into a matrix product: convolutions become patch rows
//! (im2col) times the unflipped kernel, separable layers a depthwise pass whose rows feed the
//! pointwise product, fully-connected layers one row of levels times weights whose rows were
//! permuted from Akida's `c·(H·W) + w·H + h` order to our NHWC order. Global average pooling
//! (a sum over pixels, spec §8) is pushed before the product, which is linear: the rows are
//! summed first and multiplied once.
//!
//! Exactness: every potential is a sum of integer products. Validation proved `Σ|terms| ≤
//! i32::MAX` for every potential, so no partial sum overflows in any order; where a summed row
//! meets an all-zero weight row its value is irrelevant, so those sums use wrapping adds.

use super::activation::Boundaries;
use super::kernels::{gemm, round_up, rows_gemm, Isa, PackedB, RowsB, MR};
use crate::backend::nsoc::geometry::Axis;
use crate::backend::nsoc::program::{Dims, Layer, LayerKind, Pooling, Program};

/// A program ready to run: one [`Step`] per layer plus the scratch sizes it needs.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    pub isa: Isa,
    pub input: Dims,
    pub steps: Vec<Step>,
    sizes: Sizes,
}

/// One prepared layer.
#[derive(Clone, Debug)]
pub(super) struct Step {
    input: Dims,
    /// Potentials before pooling.
    conv: Dims,
    pub output: Dims,
    source: Source,
    matmul: Matmul,
    /// Whether the rows of `A` are summed over pixels first (global average pooling).
    summed: bool,
    max_pool: Option<MaxPool>,
    finish: Finish,
}

/// Where the rows of `A` come from.
#[derive(Clone, Debug)]
enum Source {
    /// Convolution patches of the input, `pad` filling SAME borders.
    Patches { window: Window, pad: u8 },
    /// Depthwise convolution (unflipped kernel, `[tap][channel]`).
    Depthwise { window: Window, kernel: Vec<i32> },
    /// The whole input as one row.
    Flat,
}

#[derive(Clone, Debug)]
enum Matmul {
    /// Register-tiled i16 GEMM (rows of `A` fit i16).
    Packed(PackedB),
    /// Zero-skipping i32 row product.
    Rows(RowsB),
}

impl Matmul {
    fn width(&self) -> usize {
        match self {
            Matmul::Packed(b) => b.width(),
            Matmul::Rows(b) => b.width(),
        }
    }

    /// Values per row of `A`.
    fn depth(&self) -> usize {
        match self {
            Matmul::Packed(b) => 2 * b.k2(),
            Matmul::Rows(b) => b.depth(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Window {
    kernel: [usize; 2],
    strides: [usize; 2],
    rows: Axis,
    cols: Axis,
}

#[derive(Clone, Copy, Debug)]
struct MaxPool {
    size: [usize; 2],
    strides: [usize; 2],
    rows: Axis,
    cols: Axis,
}

#[derive(Clone, Debug)]
enum Finish {
    Activation(Boundaries),
    Potentials,
}

/// Largest buffers any step needs.
#[derive(Clone, Copy, Debug, Default)]
struct Sizes {
    levels: usize,
    a16: usize,
    a32: usize,
    acc: usize,
    pooled: usize,
    channels: usize,
    row: usize,
    potentials: usize,
}

impl Plan {
    /// Prepares a validated program.
    pub fn new(program: &Program, isa: Isa) -> Plan {
        let steps: Vec<Step> = program
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| Step::new(layer, program.max_input(i)))
            .collect();
        let mut sizes = Sizes::default();
        for step in &steps {
            step.grow(&mut sizes);
        }
        Plan {
            isa,
            input: program.input,
            steps,
            sizes,
        }
    }
}

fn window(layer: &Layer) -> Window {
    let [rows, cols] = layer
        .conv_axes()
        .expect("validated convolution has an output");
    Window {
        kernel: layer.kernel.map(|k| k as usize),
        strides: layer.strides.map(|s| s as usize),
        rows,
        cols,
    }
}

/// Index into a `(kh, kw, C, …)` kernel of tap `(i, j)`, flipped on both axes when `flip`.
fn tap(layer: &Layer, i: usize, j: usize, flip: bool) -> usize {
    let [kh, kw] = layer.kernel.map(|k| k as usize);
    if flip {
        (kh - 1 - i) * kw + (kw - 1 - j)
    } else {
        i * kw + j
    }
}

impl Step {
    fn new(layer: &Layer, max_input: u32) -> Step {
        let input = layer.input_dims;
        let conv = layer.conv_dims().expect("validated layer has an output");
        let c = input.channels as usize;
        let f = layer.filters() as usize;
        let summed = layer.pooling == Pooling::GlobalAverage;
        let (source, matmul) = match layer.kind {
            LayerKind::InputConvolutional | LayerKind::Convolutional => {
                // Akida holds convolution kernels flipped (a true convolution), the input
                // convolution's as is (a cross-correlation): unflip into patch order.
                let flip = layer.kind == LayerKind::Convolutional;
                let [kh, kw] = layer.kernel.map(|k| k as usize);
                let depth = kh * kw * c;
                let entry = |k: usize, col: usize| {
                    let (t, ch) = (k / c, k % c);
                    let src = tap(layer, t / kw, t % kw, flip);
                    layer.weights[(src * c + ch) * f + col]
                };
                let matmul = if summed {
                    Matmul::Rows(RowsB::new(depth, f, entry))
                } else {
                    Matmul::Packed(PackedB::new(depth, f, entry))
                };
                let pad = layer.padding_value;
                (
                    Source::Patches {
                        window: window(layer),
                        pad,
                    },
                    matmul,
                )
            }
            LayerKind::SeparableConvolutional => {
                let [kh, kw] = layer.kernel.map(|k| k as usize);
                let mut kernel = vec![0i32; kh * kw * c];
                for i in 0..kh {
                    for j in 0..kw {
                        let src = tap(layer, i, j, true);
                        for ch in 0..c {
                            kernel[(i * kw + j) * c + ch] = i32::from(layer.weights[src * c + ch]);
                        }
                    }
                }
                let dw_max = layer
                    .depthwise_bounds(max_input)
                    .into_iter()
                    .max()
                    .unwrap_or(0);
                let entry = |row: usize, col: usize| layer.weights_pw[row * f + col];
                let matmul = if summed || dw_max > i16::MAX as u64 {
                    Matmul::Rows(RowsB::new(c, f, entry))
                } else {
                    Matmul::Packed(PackedB::new(c, f, entry))
                };
                (
                    Source::Depthwise {
                        window: window(layer),
                        kernel,
                    },
                    matmul,
                )
            }
            LayerKind::FullyConnected => {
                let (h, w) = (input.height as usize, input.width as usize);
                // Our row for input cell (y, x, ch) is (y·W + x)·C + ch; Akida's is
                // ch·(H·W) + x·H + y.
                let entry = |row: usize, col: usize| {
                    let (pixel, ch) = (row / c, row % c);
                    let (y, x) = (pixel / w, pixel % w);
                    layer.weights[(ch * h * w + x * h + y) * f + col]
                };
                (Source::Flat, Matmul::Rows(RowsB::new(h * w * c, f, entry)))
            }
        };
        let max_pool = match layer.pooling {
            Pooling::Max { size, stride } => {
                let [rows, cols] = layer.pool_axes(conv).expect("validated pooling");
                Some(MaxPool {
                    size: size.map(|s| s as usize),
                    strides: stride.map(|s| s as usize),
                    rows,
                    cols,
                })
            }
            Pooling::None | Pooling::GlobalAverage => None,
        };
        let finish = if layer.activation {
            Finish::Activation(Boundaries::new(
                &layer.thresholds,
                &layer.act_steps,
                layer.act_bits,
                matmul.width(),
            ))
        } else {
            Finish::Potentials
        };
        Step {
            input,
            conv,
            output: layer.output_dims,
            source,
            matmul,
            summed,
            max_pool,
            finish,
        }
    }

    /// Rows of `A` (and of the product): one when summed or flat, else the conv pixels
    /// rounded up to the micro-tile height.
    fn rows(&self) -> usize {
        match (&self.source, self.summed) {
            (Source::Flat, _) | (_, true) => 1,
            _ => round_up(self.conv.pixels() as usize, MR),
        }
    }

    fn grow(&self, s: &mut Sizes) {
        let rows = self.rows();
        let depth = self.matmul.depth();
        let width = self.matmul.width();
        s.levels = s.levels.max(self.output.elements() as usize);
        match self.matmul {
            Matmul::Packed(_) => s.a16 = s.a16.max(rows * depth),
            Matmul::Rows(_) => s.a32 = s.a32.max(rows * depth),
        }
        s.acc = s.acc.max(rows * width);
        if self.max_pool.is_some() {
            s.pooled = s.pooled.max(self.output.pixels() as usize * width);
        }
        s.channels = s.channels.max(self.input.channels as usize);
        if self.summed {
            s.row = s.row.max(depth);
        }
        if matches!(self.finish, Finish::Potentials) {
            s.potentials = s.potentials.max(self.output.elements() as usize);
        }
    }
}

/// Per-thread scratch memory, allocated once and reused for every image.
#[derive(Debug)]
pub(super) struct Workspace {
    levels: [Vec<u8>; 2],
    a16: Vec<i16>,
    a32: Vec<i32>,
    acc: Vec<i32>,
    pooled: Vec<i32>,
    channels: Vec<i32>,
    row: Vec<i32>,
    potentials: Vec<i32>,
}

impl Workspace {
    pub fn new(plan: &Plan) -> Workspace {
        let s = plan.sizes;
        Workspace {
            levels: [vec![0; s.levels], vec![0; s.levels]],
            a16: vec![0; s.a16],
            a32: vec![0; s.a32],
            acc: vec![0; s.acc],
            pooled: vec![0; s.pooled],
            channels: vec![0; s.channels],
            row: vec![0; s.row],
            potentials: vec![0; s.potentials],
        }
    }
}

/// The final output of one image, borrowed from the workspace (dense NHWC).
pub(super) enum Final<'a> {
    Levels(&'a [u8]),
    Potentials(&'a [i32]),
}

/// Called after every layer but the last with the layer index and its levels.
pub(super) type Trace<'t> = Option<&'t mut dyn FnMut(usize, &[u8])>;

/// Runs one image (`plan.input` dims, NHWC) through the program.
pub(super) fn run_image<'w>(
    plan: &Plan,
    ws: &'w mut Workspace,
    image: &[u8],
    trace: Trace<'_>,
) -> Final<'w> {
    match plan.isa {
        Isa::Portable => run_image_inline(plan, ws, image, trace),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` only comes from `Isa::detect`, which checked the CPU.
        Isa::Avx2 => unsafe { run_image_avx2(plan, ws, image, trace) },
    }
}

/// [`run_image_inline`] compiled for AVX2, so that LLVM vectorises every loop with it.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_image_avx2<'w>(
    plan: &Plan,
    ws: &'w mut Workspace,
    image: &[u8],
    trace: Trace<'_>,
) -> Final<'w> {
    run_image_inline(plan, ws, image, trace)
}

#[inline(always)]
fn run_image_inline<'w>(
    plan: &Plan,
    ws: &'w mut Workspace,
    image: &[u8],
    mut trace: Trace<'_>,
) -> Final<'w> {
    assert_eq!(
        image.len() as u64,
        plan.input.elements(),
        "image size does not match the program input"
    );
    let last = plan.steps.len() - 1;
    let mut current = 0;
    for (index, step) in plan.steps.iter().enumerate() {
        let [first, second] = &mut ws.levels;
        let (src, dst) = if current == 0 {
            (&*first, second)
        } else {
            (&*second, first)
        };
        let src = if index == 0 {
            image
        } else {
            &src[..step.input.elements() as usize]
        };
        let dst = &mut dst[..step.output.elements() as usize];
        let mut scratch = Scratch {
            a16: &mut ws.a16,
            a32: &mut ws.a32,
            acc: &mut ws.acc,
            pooled: &mut ws.pooled,
            channels: &mut ws.channels,
            row: &mut ws.row,
        };
        let potentials = run_step(plan.isa, step, src, &mut scratch);
        match &step.finish {
            Finish::Activation(bounds) => {
                let width = step.matmul.width();
                let f = step.output.channels as usize;
                for (out, pot) in dst.chunks_exact_mut(f).zip(potentials.chunks_exact(width)) {
                    bounds.apply(pot, out);
                }
                current = 1 - current;
                if index < last {
                    if let Some(t) = trace.as_mut() {
                        t(index, dst);
                    }
                }
            }
            Finish::Potentials => {
                assert_eq!(index, last, "only the last layer outputs potentials");
                let width = step.matmul.width();
                let f = step.output.channels as usize;
                let out = &mut ws.potentials[..step.output.elements() as usize];
                for (o, pot) in out.chunks_exact_mut(f).zip(potentials.chunks_exact(width)) {
                    o.copy_from_slice(&pot[..f]);
                }
                return Final::Potentials(out);
            }
        }
    }
    let len = plan.steps[last].output.elements() as usize;
    let levels = if current == 0 {
        &ws.levels[0]
    } else {
        &ws.levels[1]
    };
    Final::Levels(&levels[..len])
}

/// The scratch buffers a step may use (everything but the level buffers).
struct Scratch<'a> {
    a16: &'a mut [i16],
    a32: &'a mut [i32],
    acc: &'a mut [i32],
    pooled: &'a mut [i32],
    channels: &'a mut [i32],
    row: &'a mut [i32],
}

/// Computes the (pooled) potentials of `step`, `matmul.width()` lanes per output pixel.
#[inline(always)]
fn run_step<'s>(isa: Isa, step: &Step, src: &[u8], s: &'s mut Scratch<'_>) -> &'s [i32] {
    let rows = step.rows();
    let depth = step.matmul.depth();
    let width = step.matmul.width();
    let acc = &mut s.acc[..rows * width];
    match &step.matmul {
        Matmul::Packed(b) => {
            let a = &mut s.a16[..rows * depth];
            fill_rows(step, src, a, s.channels);
            gemm(isa, a, rows, b, acc);
        }
        Matmul::Rows(b) => {
            let a = &mut s.a32[..rows * depth];
            if step.summed {
                sum_rows(step, src, a, s.row, s.channels);
            } else if let Source::Flat = step.source {
                for (d, &v) in a.iter_mut().zip(src) {
                    *d = i32::from(v);
                }
            } else {
                fill_rows(step, src, a, s.channels);
            }
            rows_gemm(a, rows, b, acc);
        }
    }
    match &step.max_pool {
        Some(pool) => {
            let out = &mut s.pooled[..step.output.pixels() as usize * width];
            max_pool(acc, step.conv, width, pool, out);
            out
        }
        None => acc,
    }
}

/// A value of a row of `A`.
trait Lane: Copy {
    const ZERO: Self;
    fn from_u8(v: u8) -> Self;
    /// Narrows a value the bounds proved representable.
    fn from_i32(v: i32) -> Self;
}

impl Lane for i16 {
    const ZERO: i16 = 0;
    #[inline(always)]
    fn from_u8(v: u8) -> i16 {
        i16::from(v)
    }
    #[inline(always)]
    fn from_i32(v: i32) -> i16 {
        debug_assert!(
            i16::try_from(v).is_ok(),
            "depthwise value {v} exceeds its i16 bound"
        );
        v as i16
    }
}

impl Lane for i32 {
    const ZERO: i32 = 0;
    #[inline(always)]
    fn from_u8(v: u8) -> i32 {
        i32::from(v)
    }
    #[inline(always)]
    fn from_i32(v: i32) -> i32 {
        v
    }
}

/// Writes one row of `A` per conv pixel (and zero rows up to the tile height).
#[inline(always)]
fn fill_rows<T: Lane>(step: &Step, src: &[u8], a: &mut [T], channels: &mut [i32]) {
    let depth = step.matmul.depth();
    let pixels = step.conv.pixels() as usize;
    let (rows_out, pad_rows) = a.split_at_mut(pixels * depth);
    pad_rows.fill(T::ZERO);
    let conv_w = step.conv.width as usize;
    for (p, row) in rows_out.chunks_exact_mut(depth).enumerate() {
        source_row(step, src, p / conv_w, p % conv_w, row, channels);
    }
}

/// Writes into `a[..depth]` the sum over all conv pixels of their `A` rows (global average
/// pooling); `row` is scratch of `depth` values.
#[inline(always)]
fn sum_rows(step: &Step, src: &[u8], a: &mut [i32], row: &mut [i32], channels: &mut [i32]) {
    let depth = step.matmul.depth();
    let sum = &mut a[..depth];
    sum.fill(0);
    let row = &mut row[..depth];
    let conv_w = step.conv.width as usize;
    for p in 0..step.conv.pixels() as usize {
        source_row(step, src, p / conv_w, p % conv_w, row, channels);
        for (s, &v) in sum.iter_mut().zip(row.iter()) {
            *s = s.wrapping_add(v);
        }
    }
}

/// Input pixel coordinate seen by output `index` at kernel offset `offset`, if inside.
#[inline(always)]
fn input_coord(
    axis: &Axis,
    stride: usize,
    index: usize,
    offset: usize,
    size: usize,
) -> Option<usize> {
    (index * stride + offset)
        .checked_sub(axis.pad_before as usize)
        .filter(|&v| v < size)
}

/// Writes the `A` row of conv pixel `(y, x)` (padded with zeros to the row depth).
#[inline(always)]
fn source_row<T: Lane>(
    step: &Step,
    src: &[u8],
    y: usize,
    x: usize,
    row: &mut [T],
    channels: &mut [i32],
) {
    let (h, w, c) = (
        step.input.height as usize,
        step.input.width as usize,
        step.input.channels as usize,
    );
    match &step.source {
        Source::Patches { window, pad } => {
            let [kh, kw] = window.kernel;
            let mut k = 0;
            for i in 0..kh {
                let iy = input_coord(&window.rows, window.strides[0], y, i, h);
                for j in 0..kw {
                    let ix = input_coord(&window.cols, window.strides[1], x, j, w);
                    let dst = &mut row[k..k + c];
                    match (iy, ix) {
                        (Some(iy), Some(ix)) => {
                            let s = &src[(iy * w + ix) * c..][..c];
                            for (d, &v) in dst.iter_mut().zip(s) {
                                *d = T::from_u8(v);
                            }
                        }
                        _ => dst.fill(T::from_u8(*pad)),
                    }
                    k += c;
                }
            }
            row[k..].fill(T::ZERO);
        }
        Source::Depthwise { window, kernel } => {
            let [kh, kw] = window.kernel;
            let acc = &mut channels[..c];
            acc.fill(0);
            for i in 0..kh {
                let Some(iy) = input_coord(&window.rows, window.strides[0], y, i, h) else {
                    continue;
                };
                for j in 0..kw {
                    let Some(ix) = input_coord(&window.cols, window.strides[1], x, j, w) else {
                        continue;
                    };
                    let s = &src[(iy * w + ix) * c..][..c];
                    let k = &kernel[(i * kw + j) * c..][..c];
                    for ((a, &v), &wt) in acc.iter_mut().zip(s).zip(k) {
                        *a += i32::from(v) * wt;
                    }
                }
            }
            for (d, &v) in row.iter_mut().zip(acc.iter()) {
                *d = T::from_i32(v);
            }
            row[c..].fill(T::ZERO);
        }
        Source::Flat => unreachable!("flat sources are copied, not built row by row"),
    }
}

/// Keras max pooling over `acc` (`conv` pixels of `width` lanes) into `out`.
#[inline(always)]
fn max_pool(acc: &[i32], conv: Dims, width: usize, pool: &MaxPool, out: &mut [i32]) {
    let (h, w) = (conv.height as usize, conv.width as usize);
    let out_w = pool.cols.output as usize;
    for (p, dst) in out.chunks_exact_mut(width).enumerate() {
        let (oy, ox) = (p / out_w, p % out_w);
        dst.fill(i32::MIN);
        for i in 0..pool.size[0] {
            let Some(y) = input_coord(&pool.rows, pool.strides[0], oy, i, h) else {
                continue;
            };
            for j in 0..pool.size[1] {
                let Some(x) = input_coord(&pool.cols, pool.strides[1], ox, j, w) else {
                    continue;
                };
                let s = &acc[(y * w + x) * width..][..width];
                for (d, &v) in dst.iter_mut().zip(s) {
                    *d = (*d).max(v);
                }
            }
        }
    }
}
