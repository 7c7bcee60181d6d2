//! The prepared form of a program and its execution on a group of images.
//!
//! Preparation turns each layer into one matrix product `A·B`:
//! - convolutions: a row of `A` per output pixel holds its input patch, `B` is the kernel in
//!   patch order (unflipped for Convolutional, whose kernel Akida stores flipped). The rows are
//!   never copied out (implicit im2col): the GEMM reads each kernel row of a patch straight from
//!   the input, after SAME borders were materialised in a padded copy;
//! - separable layers: a row per output pixel holds the depthwise result, `B` the pointwise
//!   kernel;
//! - fully-connected layers: one row per image, read in place, `B` the weights with rows
//!   permuted from Akida's `c·(H·W) + w·H + h` order to our NHWC order;
//! - global average pooling (a running sum over the pixels in row-major order, saturated to the
//!   signed 20-bit range at every step) is pushed before the product, which is linear, when the
//!   bounds prove no partial sum can saturate: each image's pixel rows are summed into one row,
//!   multiplied once. Otherwise every pixel's potentials are computed and summed with
//!   saturation, as the engine does.
//!
//! Images run in groups of up to [`GROUP`], layer by layer: the rows of all images of a group
//! go through one product, so each weight is loaded once per group rather than once per image.
//!
//! Exactness: every potential is a sum of integer products that the engine accumulates in 32
//! bits, wrapping (measured: `docs/engine-arithmetic.md`). Wrapping sums are exact modulo 2^32
//! in any order, so every i32 product here gives the engine's value. `A` is held in i16 (for
//! the `pmaddwd` GEMM) or u8 whenever the bounds prove its values fit, else in i32 (row
//! kernel). Max pooling (other than 1×1) and fully-connected layers then clamp potentials to
//! the signed 20-bit range; activations use the monotonic boundary table where the bounds
//! prove the engine's 28-bit registers cannot wrap, else the engine's formula per value.

use super::activation::{level_with, monotonic, register_step, Boundaries};
use super::kernels::{gemm, gemm_u8, round_up, rows_gemm, ARows, Isa, PackedB, PackedB8, RowsB};
use crate::backend::nsoc::geometry::Axis;
use crate::backend::nsoc::program::{
    Dims, Layer, LayerKind, Pooling, Program, SATURATION_MAX, SATURATION_MIN,
};

/// Images processed together (fewer when one image's feature maps are huge).
const GROUP: usize = 8;
/// Bytes of level buffers a group may hold: bounds the workspace of huge programs.
const GROUP_BUDGET: usize = 32 << 20;
/// Spare values after every input buffer: row reads may run one value past a window.
const SLACK: usize = 16;
/// Bytes of i32 potentials one product may produce: a layer runs its group in chunks of images
/// small enough that the potentials stay in the L2 cache until pooled and activated.
const ACC_BUDGET: usize = 128 << 10;
/// A fully-connected layer switches to its event path (one weight row added per non-zero
/// input) when fewer than one input in `EVENT_RATIO` is non-zero. Measured on a 4096→512 layer
/// (one core): the dense u8 product takes 19 µs per image at any density; the event path 22 µs
/// at 10 % density and 16 µs at 5 %, so it pays below about 7 %.
const EVENT_RATIO: usize = 16;

/// A program ready to run: one [`Step`] per layer plus the scratch sizes it needs.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    pub isa: Isa,
    pub input: Dims,
    pub steps: Vec<Step>,
    /// Images per group (1..=GROUP).
    pub group: usize,
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
    /// Whether each image's rows are summed into one (global average pooling that provably
    /// never saturates).
    summed: bool,
    /// What reduces the conv pixels' potentials.
    pool: Pool,
    /// Whether potentials are clamped to the 20-bit range after pooling.
    clamp: bool,
    finish: Finish,
    /// Images per product (1..=group).
    chunk: usize,
    /// The weights as rows, for the event path of fully-connected layers.
    events: Option<RowsB>,
}

/// Where the rows of `A` come from.
#[derive(Clone, Debug)]
enum Source {
    /// Convolution patches of the input; `pad` fills SAME borders.
    Patches {
        window: Window,
        pad: i16,
        /// Padded copy geometry, when the window crosses the borders.
        padded: Option<Padded>,
        /// Start of each conv pixel's patch within one (padded) image.
        pixel_offsets: Vec<usize>,
    },
    /// Depthwise convolution (unflipped kernel, `[tap][channel]`).
    Depthwise { window: Window, kernel: Vec<i16> },
    /// The whole input as one row.
    Flat,
}

/// An input image with its SAME borders materialised.
#[derive(Clone, Copy, Debug)]
struct Padded {
    height: usize,
    width: usize,
}

#[derive(Clone, Debug)]
enum Matmul {
    /// Register-tiled u8×i8 GEMM with i16 accumulation (`A` holds small non-negative values).
    Bytes(PackedB8),
    /// Register-tiled i16 GEMM (values of `A` fit i16).
    Packed(PackedB),
    /// i32 row product.
    Rows(RowsB),
}

impl Matmul {
    /// The fastest product whose arithmetic provably stays exact for `|A| ≤ a_bound`
    /// (`non_negative`: `A ≥ 0`): `segments` blocks of `len` rows of `entry(segment, row, col)`.
    fn choose(
        a_bound: u64,
        non_negative: bool,
        segments: usize,
        len: usize,
        n: usize,
        entry: impl Fn(usize, usize, usize) -> i8,
    ) -> Matmul {
        if non_negative && a_bound <= u64::from(u8::MAX) {
            if let Some(b) = PackedB8::new(segments, len, n, a_bound as u32, &entry) {
                return Matmul::Bytes(b);
            }
        }
        if a_bound <= i16::MAX as u64 {
            Matmul::Packed(PackedB::new(segments, len, n, entry))
        } else {
            assert_eq!(segments, 1, "the i32 row product reads explicit rows");
            Matmul::Rows(RowsB::new(len, n, |row, col| entry(0, row, col)))
        }
    }

    fn width(&self) -> usize {
        match self {
            Matmul::Bytes(b) => b.width(),
            Matmul::Packed(b) => b.width(),
            Matmul::Rows(b) => b.width(),
        }
    }

    fn row_multiple(&self) -> usize {
        match self {
            Matmul::Bytes(b) => b.row_multiple(),
            Matmul::Packed(b) => b.row_multiple(),
            Matmul::Rows(_) => 1,
        }
    }

    /// Values per explicit row of `A`.
    fn depth(&self) -> usize {
        match self {
            Matmul::Bytes(b) => b.run_len(),
            Matmul::Packed(b) => b.run_len(),
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

/// Max pooling: for each output row and column, the input cells of its window (clipped to
/// the input: padded cells never win the max).
#[derive(Clone, Debug)]
struct MaxPool {
    rows: Vec<(usize, usize)>,
    cols: Vec<(usize, usize)>,
}

impl MaxPool {
    fn new(axes: [Axis; 2], size: [u32; 2], stride: [u32; 2], conv: Dims) -> MaxPool {
        let ranges = |axis: Axis, window: u32, stride: u32, input: u32| {
            (0..axis.output)
                .map(|o| {
                    let start = i64::from(o) * i64::from(stride) - i64::from(axis.pad_before);
                    let end = (start + i64::from(window)).min(i64::from(input));
                    (start.max(0) as usize, end as usize)
                })
                .collect()
        };
        MaxPool {
            rows: ranges(axes[0], size[0], stride[0], conv.height),
            cols: ranges(axes[1], size[1], stride[1], conv.width),
        }
    }
}

/// How a step reduces its conv pixels.
#[derive(Clone, Debug)]
enum Pool {
    None,
    Max(MaxPool),
    /// Global average pooling computed per pixel: the engine's saturating running sum.
    SaturatingSum,
}

#[derive(Clone, Debug)]
enum Finish {
    /// Levels by comparison with a boundary table (the activation is monotonic here).
    Activation(Boundaries),
    /// Levels by the engine's register arithmetic, value by value.
    Registers(Registers),
    Potentials,
}

/// Per channel, the threshold and register step of [`level_with`].
#[derive(Clone, Debug)]
struct Registers {
    thresholds: Vec<i32>,
    steps: Vec<i64>,
    act_bits: u8,
}

/// Largest buffers any step needs, for a whole group.
#[derive(Clone, Copy, Debug, Default)]
struct Sizes {
    input: usize,
    levels: usize,
    padded: usize,
    a8: usize,
    offsets: usize,
    a16: usize,
    a32: usize,
    acc: usize,
    pooled: usize,
    potentials: usize,
}

impl Plan {
    /// Prepares a validated program.
    pub fn new(program: &Program, isa: Isa) -> Plan {
        let largest = program
            .layers
            .iter()
            .map(|l| l.output_dims.elements().max(l.input_dims.elements()))
            .max()
            .unwrap_or(1) as usize;
        let group = (GROUP_BUDGET / (2 * largest)).clamp(1, GROUP);
        let steps: Vec<Step> = program
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| Step::new(layer, program.max_input(i), group))
            .collect();
        let mut sizes = Sizes {
            input: group * program.input.elements() as usize,
            ..Sizes::default()
        };
        for step in &steps {
            step.grow(&mut sizes, group);
        }
        Plan {
            isa,
            input: program.input,
            steps,
            group,
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

/// Patch geometry: the padded copy (if the window crosses a border) and each conv pixel's
/// patch start within one image.
fn patch_layout(layer: &Layer, window: &Window, conv: Dims) -> (Option<Padded>, Vec<usize>) {
    let (h, w, c) = (
        layer.input_dims.height as usize,
        layer.input_dims.width as usize,
        layer.input_dims.channels as usize,
    );
    let pads = [window.rows, window.cols].map(|a| (a.pad_before + a.pad_after) as usize);
    let padded = (pads != [0, 0]).then(|| Padded {
        height: h + pads[0],
        width: w + pads[1],
    });
    let row_len = padded.map_or(w, |p| p.width);
    let [sh, sw] = window.strides;
    let mut offsets = Vec::with_capacity(conv.pixels() as usize);
    for y in 0..conv.height as usize {
        for x in 0..conv.width as usize {
            offsets.push((y * sh * row_len + x * sw) * c);
        }
    }
    (padded, offsets)
}

impl Step {
    fn new(layer: &Layer, max_input: u32, group: usize) -> Step {
        let input = layer.input_dims;
        let conv = layer.conv_dims().expect("validated layer has an output");
        let c = input.channels as usize;
        let f = layer.filters() as usize;
        let pixel_bound = layer.pixel_bound(max_input);
        let gap = layer.pooling == Pooling::GlobalAverage;
        // Summing inputs before the product is exact only if no partial sum of potentials can
        // reach the saturation (nor wrap).
        let summed = gap
            && pixel_bound.saturating_mul(conv.pixels()) <= SATURATION_MAX.unsigned_abs().into();
        let mut events = None;
        // Largest |value| of A: one pixel's, times the pixels when they are summed.
        let rows_summed = if summed { conv.pixels() } else { 1 };
        let (source, matmul) = match layer.kind {
            LayerKind::InputConvolutional | LayerKind::Convolutional => {
                // Akida holds convolution kernels flipped (a true convolution), the input
                // convolution's as is (a cross-correlation): unflip into patch order.
                let flip = layer.kind == LayerKind::Convolutional;
                let [kh, kw] = layer.kernel.map(|k| k as usize);
                let weight = |k: usize, col: usize| {
                    let (t, ch) = (k / c, k % c);
                    layer.weights[(tap(layer, t / kw, t % kw, flip) * c + ch) * f + col]
                };
                let bound = rows_summed * u64::from(max_input);
                let matmul = if summed {
                    Matmul::choose(bound, false, 1, kh * kw * c, f, |_, k, col| weight(k, col))
                } else {
                    // One run per kernel row, read in place.
                    Matmul::choose(bound, true, kh, kw * c, f, |s, t, col| {
                        weight(s * kw * c + t, col)
                    })
                };
                let window = window(layer);
                let (padded, pixel_offsets) = patch_layout(layer, &window, conv);
                let source = Source::Patches {
                    window,
                    pad: i16::from(layer.padding_value),
                    padded,
                    pixel_offsets,
                };
                (source, matmul)
            }
            LayerKind::SeparableConvolutional => {
                let [kh, kw] = layer.kernel.map(|k| k as usize);
                let mut kernel = vec![0i16; kh * kw * c];
                for i in 0..kh {
                    for j in 0..kw {
                        let src = tap(layer, i, j, true);
                        for ch in 0..c {
                            kernel[(i * kw + j) * c + ch] = i16::from(layer.weights[src * c + ch]);
                        }
                    }
                }
                let dw_max = layer.depthwise_bounds(max_input).into_iter().max();
                let bound = rows_summed.saturating_mul(dw_max.unwrap_or(0));
                let weight = |_: usize, row: usize, col: usize| layer.weights_pw[row * f + col];
                let matmul = Matmul::choose(bound, false, 1, c, f, weight);
                let source = Source::Depthwise {
                    window: window(layer),
                    kernel,
                };
                (source, matmul)
            }
            LayerKind::FullyConnected => {
                let (h, w) = (input.height as usize, input.width as usize);
                // Our row for input cell (y, x, ch) is (y·W + x)·C + ch; Akida's is
                // ch·(H·W) + x·H + y.
                let weight = |_: usize, row: usize, col: usize| {
                    let (pixel, ch) = (row / c, row % c);
                    let (y, x) = (pixel / w, pixel % w);
                    layer.weights[(ch * h * w + x * h + y) * f + col]
                };
                let bound = u64::from(max_input);
                let matmul = Matmul::choose(bound, true, 1, h * w * c, f, weight);
                events = match matmul {
                    Matmul::Rows(_) => None,
                    _ => Some(RowsB::with_width(h * w * c, f, matmul.width(), |r, col| {
                        weight(0, r, col)
                    })),
                };
                (Source::Flat, matmul)
            }
        };
        let pool = match layer.pooling {
            Pooling::Max { size, stride } => {
                let axes = layer.pool_axes(conv).expect("validated pooling");
                Pool::Max(MaxPool::new(axes, size, stride, conv))
            }
            Pooling::GlobalAverage if !summed => Pool::SaturatingSum,
            Pooling::None | Pooling::GlobalAverage => Pool::None,
        };
        // The saturating sum clamps by itself; a summed one provably stays inside.
        let clamp = layer.saturates() && !gap && pixel_bound > SATURATION_MAX.unsigned_abs().into();
        let finish = if !layer.activation {
            Finish::Potentials
        } else if monotonic(
            layer.potential_bound(max_input),
            &layer.thresholds,
            layer.act_bits,
        ) {
            Finish::Activation(Boundaries::new(
                &layer.thresholds,
                &layer.act_steps,
                layer.act_bits,
            ))
        } else {
            Finish::Registers(Registers {
                thresholds: layer.thresholds.clone(),
                steps: layer.act_steps.iter().map(|&s| register_step(s)).collect(),
                act_bits: layer.act_bits,
            })
        };
        let mut step = Step {
            input,
            conv,
            output: layer.output_dims,
            source,
            matmul,
            summed,
            pool,
            clamp,
            finish,
            chunk: group,
            events,
        };
        let image_bytes = step.rows_per_image() * step.matmul.width() * 4;
        step.chunk = (ACC_BUDGET / image_bytes).clamp(1, group);
        step
    }

    /// Rows of `A` per image: one when summed or flat, else one per conv pixel.
    fn rows_per_image(&self) -> usize {
        match (&self.source, self.summed) {
            (Source::Flat, _) | (_, true) => 1,
            _ => self.conv.pixels() as usize,
        }
    }

    /// Rows of the product for `g` images, rounded up to the kernel's tile height.
    fn rows(&self, g: usize) -> usize {
        round_up(g * self.rows_per_image(), self.matmul.row_multiple())
    }

    /// Whether the GEMM reads `A` in place (from the input, or its padded or byte copy).
    fn in_place(&self) -> bool {
        matches!(
            (&self.source, &self.matmul, self.summed),
            (
                Source::Patches { .. } | Source::Flat,
                Matmul::Packed(_) | Matmul::Bytes(_),
                false
            )
        )
    }

    /// For a convolution read in place: `(padded, image length, kernel row stride, pixel
    /// offsets)`, where each image's patches start and how far apart kernel rows are.
    fn patch_layout(&self) -> Option<(bool, usize, usize, &[usize])> {
        let Source::Patches {
            padded,
            pixel_offsets,
            ..
        } = &self.source
        else {
            return None;
        };
        if self.summed {
            return None;
        }
        let (h, w, c) = (
            self.input.height as usize,
            self.input.width as usize,
            self.input.channels as usize,
        );
        Some(match padded {
            Some(p) => (true, p.height * p.width * c, p.width * c, pixel_offsets),
            None => (false, h * w * c, w * c, pixel_offsets),
        })
    }

    fn grow(&self, s: &mut Sizes, group: usize) {
        let rows = self.rows(self.chunk);
        let width = self.matmul.width();
        s.levels = s.levels.max(group * self.output.elements() as usize);
        s.offsets = s.offsets.max(rows);
        let layout = self.patch_layout();
        let image = layout.map_or(self.input.elements() as usize, |(_, len, _, _)| len);
        match (&self.matmul, layout) {
            (Matmul::Bytes(_), _) => s.a8 = s.a8.max(group * image),
            (Matmul::Packed(_), Some((true, ..))) => s.padded = s.padded.max(group * image),
            _ => {}
        }
        if !self.in_place() {
            let explicit = rows * self.matmul.depth();
            match self.matmul {
                Matmul::Bytes(_) => unreachable!("byte products read in place"),
                Matmul::Packed(_) => s.a16 = s.a16.max(explicit),
                Matmul::Rows(_) => s.a32 = s.a32.max(explicit),
            }
        }
        s.acc = s.acc.max(rows * width);
        if !matches!(self.pool, Pool::None) {
            s.pooled = s
                .pooled
                .max(self.chunk * self.output.pixels() as usize * width);
        }
        if matches!(self.finish, Finish::Potentials) {
            s.potentials = s.potentials.max(group * self.output.elements() as usize);
        }
    }
}

/// Per-thread scratch memory, allocated once and reused for every group.
#[derive(Debug)]
pub(super) struct Workspace {
    input: Vec<i16>,
    levels: [Vec<i16>; 2],
    /// The levels handed out (trace, final output) as bytes.
    bytes: Vec<u8>,
    scratch: Scratch,
}

/// The buffers a step may use besides its input and output levels.
#[derive(Debug)]
struct Scratch {
    padded: Vec<i16>,
    a8: Vec<u8>,
    offsets: Vec<usize>,
    a16: Vec<i16>,
    a32: Vec<i32>,
    acc: Vec<i32>,
    pooled: Vec<i32>,
    potentials: Vec<i32>,
}

impl Workspace {
    pub fn new(plan: &Plan) -> Workspace {
        let s = plan.sizes;
        Workspace {
            input: vec![0; s.input + SLACK],
            levels: [vec![0; s.levels + SLACK], vec![0; s.levels + SLACK]],
            bytes: vec![0; s.levels],
            scratch: Scratch {
                padded: vec![0; s.padded + SLACK],
                a8: vec![0; s.a8 + SLACK],
                offsets: vec![0; s.offsets],
                a16: vec![0; s.a16 + SLACK],
                a32: vec![0; s.a32],
                acc: vec![0; s.acc],
                pooled: vec![0; s.pooled],
                potentials: vec![0; s.potentials],
            },
        }
    }
}

/// The final output of a group, borrowed from the workspace (dense NHWC, image after image).
pub(super) enum Final<'a> {
    Levels(&'a [u8]),
    Potentials(&'a [i32]),
}

/// Called after every layer but the last with the layer index and the group's levels.
pub(super) type Trace<'t> = Option<&'t mut dyn FnMut(usize, &[u8])>;

/// Runs up to `plan.group` images (`images.len()` a multiple of the input size, NHWC).
pub(super) fn run_group<'w>(
    plan: &Plan,
    ws: &'w mut Workspace,
    images: &[u8],
    trace: Trace<'_>,
) -> Final<'w> {
    match plan.isa {
        Isa::Portable => run_group_inline(plan, ws, images, trace),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX2 kernels are chosen only for an `Isa` from `Isa::detect`, which checked the CPU.
        Isa::Avx2Fma | Isa::Avx512 => unsafe { run_group_avx2(plan, ws, images, trace) },
    }
}

/// [`run_group_inline`] compiled for AVX2, so that LLVM vectorises every loop with it.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_group_avx2<'w>(
    plan: &Plan,
    ws: &'w mut Workspace,
    images: &[u8],
    trace: Trace<'_>,
) -> Final<'w> {
    run_group_inline(plan, ws, images, trace)
}

#[inline(always)]
fn run_group_inline<'w>(
    plan: &Plan,
    ws: &'w mut Workspace,
    images: &[u8],
    mut trace: Trace<'_>,
) -> Final<'w> {
    let in_len = plan.input.elements() as usize;
    let g = images.len() / in_len;
    assert!(
        images.len() % in_len == 0 && (1..=plan.group).contains(&g),
        "a group holds 1 to {} whole images",
        plan.group
    );
    for (d, &v) in ws.input.iter_mut().zip(images) {
        *d = i16::from(v);
    }
    let last = plan.steps.len() - 1;
    // Which level buffer holds the current input: `None` for the images.
    let mut current: Option<usize> = None;
    for (index, step) in plan.steps.iter().enumerate() {
        let out = current.map_or(0, |c| 1 - c);
        let [first, second] = &mut ws.levels;
        let (src, dst) = match current {
            None => (&ws.input[..], first),
            Some(0) => (&first[..], second),
            Some(_) => (&second[..], first),
        };
        let out_len = step.output.elements() as usize;
        match &step.finish {
            Finish::Activation(_) | Finish::Registers(_) => {
                let dst = &mut dst[..g * out_len];
                run_step(plan.isa, step, src, g, &mut ws.scratch, Out::Levels(dst));
                if index < last {
                    if let Some(t) = trace.as_mut() {
                        t(index, to_bytes(dst, &mut ws.bytes));
                    }
                }
                current = Some(out);
            }
            Finish::Potentials => {
                assert_eq!(index, last, "only the last layer outputs potentials");
                let mut potentials = std::mem::take(&mut ws.scratch.potentials);
                let dst = &mut potentials[..g * out_len];
                run_step(
                    plan.isa,
                    step,
                    src,
                    g,
                    &mut ws.scratch,
                    Out::Potentials(dst),
                );
                ws.scratch.potentials = potentials;
                return Final::Potentials(&ws.scratch.potentials[..g * out_len]);
            }
        }
    }
    let len = g * plan.steps[last].output.elements() as usize;
    let buffer = current.expect("at least one layer ran");
    Final::Levels(to_bytes(&ws.levels[buffer][..len], &mut ws.bytes))
}

/// Levels (`0..=15`) as bytes, in `bytes`.
#[inline(always)]
fn to_bytes<'b>(levels: &[i16], bytes: &'b mut [u8]) -> &'b [u8] {
    let out = &mut bytes[..levels.len()];
    for (b, &v) in out.iter_mut().zip(levels) {
        *b = v as u8;
    }
    out
}

/// Where a step writes its output: activation levels, or the last layer's potentials.
enum Out<'a> {
    Levels(&'a mut [i16]),
    Potentials(&'a mut [i32]),
}

/// Runs `step` on `g` images, [`Step::chunk`] images per product: rows of `A`, the product,
/// pooling and activation, written to `out` (dense NHWC, image after image).
#[inline(always)]
fn run_step(isa: Isa, step: &Step, src: &[i16], g: usize, s: &mut Scratch, mut out: Out<'_>) {
    let width = step.matmul.width();
    let in_len = step.input.elements() as usize;
    let out_len = step.output.elements() as usize;
    let f = step.output.channels as usize;
    let per_image = step.rows_per_image();
    let layout = step.patch_layout();
    // Copies made once for the group: bytes for the u8 product, the padded input otherwise.
    let pad = match &step.source {
        Source::Patches { pad, .. } => *pad,
        _ => 0,
    };
    let padded = layout.filter(|l| l.0).map(|(_, len, ..)| len);
    match &step.matmul {
        Matmul::Bytes(_) => copy_images(step, padded, pad, src, g, &mut s.a8, |v| v as u8),
        Matmul::Packed(_) if padded.is_some() => {
            copy_images(step, padded, pad, src, g, &mut s.padded, |v| v)
        }
        _ => {}
    }
    // Row starts of images n0.. for a product read in place.
    let in_place_offsets = |offsets: &mut [usize], n0: usize| match layout {
        Some((_, image_len, _, pixel_offsets)) => {
            for (n, chunk) in offsets.chunks_mut(per_image).enumerate() {
                for (o, &p) in chunk.iter_mut().zip(pixel_offsets) {
                    *o = (n0 + n) * image_len + p;
                }
            }
        }
        None => {
            for (n, o) in offsets.iter_mut().enumerate() {
                *o = (n0 + n) * in_len;
            }
        }
    };
    let in_place_stride = layout.map_or(0, |(_, _, row_len, _)| row_len);
    for n0 in (0..g).step_by(step.chunk) {
        let m = step.chunk.min(g - n0);
        let rows = step.rows(m);
        let acc = &mut s.acc[..rows * width];
        let images = &src[n0 * in_len..];
        let offsets = &mut s.offsets[..rows];
        let sparse = step.events.as_ref().filter(|_| {
            let values = &images[..m * in_len];
            values.iter().filter(|&&v| v != 0).count() * EVENT_RATIO < values.len()
        });
        match (&step.matmul, sparse) {
            (_, Some(events)) => rows_gemm(&images[..m * in_len], m, events, acc),
            (Matmul::Bytes(b), None) => {
                in_place_offsets(offsets, n0);
                // Rows past the last image repeat a real row: bounded, and ignored.
                let first = offsets[0];
                offsets[m * per_image..].fill(first);
                let a = ARows {
                    data: &s.a8[..],
                    offsets,
                    stride: in_place_stride,
                };
                gemm_u8(isa, a, b, acc);
            }
            (Matmul::Packed(b), None) => {
                let (data, stride): (&[i16], usize) = if step.in_place() {
                    in_place_offsets(offsets, n0);
                    let data = if padded.is_some() { &s.padded[..] } else { src };
                    (data, in_place_stride)
                } else {
                    let depth = b.run_len();
                    explicit_rows(step, images, m, &mut s.a16[..rows * depth], depth);
                    for (r, o) in offsets.iter_mut().enumerate() {
                        *o = r * depth;
                    }
                    (&s.a16[..], 0)
                };
                let first = offsets[0];
                offsets[m * per_image..].fill(first);
                gemm(
                    isa,
                    ARows {
                        data,
                        offsets,
                        stride,
                    },
                    b,
                    acc,
                );
            }
            (Matmul::Rows(b), None) => {
                let depth = b.depth();
                let a = &mut s.a32[..rows * depth];
                explicit_rows(step, images, m, a, depth);
                rows_gemm(a, rows, b, acc);
            }
        }
        let conv_len = step.conv.pixels() as usize * width;
        let pooled_len = step.output.pixels() as usize * width;
        let potentials: &mut [i32] = match &step.pool {
            Pool::Max(pool) => {
                let pooled = &mut s.pooled[..m * pooled_len];
                for (o, a) in pooled
                    .chunks_exact_mut(pooled_len)
                    .zip(acc.chunks_exact(conv_len))
                {
                    max_pool(a, step.conv, width, pool, o);
                }
                pooled
            }
            Pool::SaturatingSum => {
                let pooled = &mut s.pooled[..m * pooled_len];
                for (o, a) in pooled
                    .chunks_exact_mut(pooled_len)
                    .zip(acc.chunks_exact(conv_len))
                {
                    saturating_sum(a, width, o);
                }
                pooled
            }
            Pool::None => acc,
        };
        if step.clamp {
            for p in potentials.iter_mut() {
                *p = (*p).clamp(SATURATION_MIN, SATURATION_MAX);
            }
        }
        let range = n0 * out_len..(n0 + m) * out_len;
        match (&mut out, &step.finish) {
            (Out::Levels(levels), Finish::Activation(bounds)) => {
                for (l, p) in levels[range]
                    .chunks_exact_mut(f)
                    .zip(potentials.chunks_exact(width))
                {
                    bounds.apply(isa, p, l);
                }
            }
            (Out::Levels(levels), Finish::Registers(r)) => {
                for (l, p) in levels[range]
                    .chunks_exact_mut(f)
                    .zip(potentials.chunks_exact(width))
                {
                    for (c, o) in l.iter_mut().enumerate() {
                        let level = level_with(p[c], r.thresholds[c], r.steps[c], r.act_bits);
                        *o = i16::from(level);
                    }
                }
            }
            (Out::Potentials(dst), Finish::Potentials) => {
                for (o, p) in dst[range]
                    .chunks_exact_mut(f)
                    .zip(potentials.chunks_exact(width))
                {
                    o.copy_from_slice(&p[..f]);
                }
            }
            _ => unreachable!("a step's output matches its finish"),
        }
    }
}

/// Copies the group's images into `out` converted by `convert`: in the padded layout (images of
/// `padded` values, borders filled with `pad`) when given, else as they are.
#[inline(always)]
fn copy_images<T: Copy>(
    step: &Step,
    padded: Option<usize>,
    pad: i16,
    src: &[i16],
    g: usize,
    out: &mut [T],
    convert: impl Fn(i16) -> T,
) {
    let (h, w, c) = (
        step.input.height as usize,
        step.input.width as usize,
        step.input.channels as usize,
    );
    let in_len = h * w * c;
    let Some(image_len) = padded else {
        for (o, &v) in out[..g * in_len].iter_mut().zip(src) {
            *o = convert(v);
        }
        return;
    };
    let Source::Patches { window, .. } = &step.source else {
        unreachable!("only patch sources are padded");
    };
    let (top, left) = (
        window.rows.pad_before as usize,
        window.cols.pad_before as usize,
    );
    let padded_w = w + (window.cols.pad_before + window.cols.pad_after) as usize;
    for (n, image) in out[..g * image_len].chunks_exact_mut(image_len).enumerate() {
        image.fill(convert(pad));
        let input = &src[n * in_len..(n + 1) * in_len];
        for (y, row) in input.chunks_exact(w * c).enumerate() {
            let start = ((y + top) * padded_w + left) * c;
            for (o, &v) in image[start..start + w * c].iter_mut().zip(row) {
                *o = convert(v);
            }
        }
    }
}

/// A value of an explicit row of `A`, accumulated with wrapping arithmetic (exact: the bounds
/// prove every final value fits).
trait Lane: Copy + Default {
    fn from_i16(v: i16) -> Self;
    fn mul_add(self, x: i16, w: i16) -> Self;
    fn add(self, x: i16) -> Self;
}

impl Lane for i16 {
    #[inline(always)]
    fn from_i16(v: i16) -> i16 {
        v
    }
    #[inline(always)]
    fn mul_add(self, x: i16, w: i16) -> i16 {
        self.wrapping_add(x.wrapping_mul(w))
    }
    #[inline(always)]
    fn add(self, x: i16) -> i16 {
        self.wrapping_add(x)
    }
}

impl Lane for i32 {
    #[inline(always)]
    fn from_i16(v: i16) -> i32 {
        i32::from(v)
    }
    #[inline(always)]
    fn mul_add(self, x: i16, w: i16) -> i32 {
        self.wrapping_add(i32::from(x) * i32::from(w))
    }
    #[inline(always)]
    fn add(self, x: i16) -> i32 {
        self.wrapping_add(i32::from(x))
    }
}

/// Writes the explicit rows of `A` (`depth` values each) for `g` images, then zero rows up to
/// the end of `a`.
#[inline(always)]
fn explicit_rows<T: Lane>(step: &Step, src: &[i16], g: usize, a: &mut [T], depth: usize) {
    let in_len = step.input.elements() as usize;
    let per_image = step.rows_per_image();
    let pixels = step.conv.pixels() as usize;
    a.fill(T::default());
    for n in 0..g {
        let image = &src[n * in_len..(n + 1) * in_len];
        let rows = &mut a[n * per_image * depth..(n + 1) * per_image * depth];
        match (&step.source, step.summed) {
            (Source::Flat, _) => {
                for (o, &v) in rows.iter_mut().zip(image) {
                    *o = T::from_i16(v);
                }
            }
            (_, true) => {
                for p in 0..pixels {
                    add_row(step, image, p, &mut rows[..depth]);
                }
            }
            (_, false) => {
                for (p, row) in rows.chunks_exact_mut(depth).enumerate() {
                    add_row(step, image, p, row);
                }
            }
        }
    }
}

/// Input coordinate seen by output `index` at kernel offset `offset`, if inside `0..size`.
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

/// Adds conv pixel `p`'s row of `A` (patch values, or depthwise sums) into `row`.
#[inline(always)]
fn add_row<T: Lane>(step: &Step, image: &[i16], p: usize, row: &mut [T]) {
    let (h, w, c) = (
        step.input.height as usize,
        step.input.width as usize,
        step.input.channels as usize,
    );
    let conv_w = step.conv.width as usize;
    let (y, x) = (p / conv_w, p % conv_w);
    match &step.source {
        Source::Patches { window, pad, .. } => {
            let [kh, kw] = window.kernel;
            for i in 0..kh {
                let iy = input_coord(&window.rows, window.strides[0], y, i, h);
                for j in 0..kw {
                    let ix = input_coord(&window.cols, window.strides[1], x, j, w);
                    let out = &mut row[(i * kw + j) * c..][..c];
                    match (iy, ix) {
                        (Some(iy), Some(ix)) => {
                            let s = &image[(iy * w + ix) * c..][..c];
                            for (o, &v) in out.iter_mut().zip(s) {
                                *o = o.add(v);
                            }
                        }
                        _ => out.iter_mut().for_each(|o| *o = o.add(*pad)),
                    }
                }
            }
        }
        Source::Depthwise { window, kernel } => {
            let [kh, kw] = window.kernel;
            let row = &mut row[..c];
            for i in 0..kh {
                let Some(iy) = input_coord(&window.rows, window.strides[0], y, i, h) else {
                    continue;
                };
                for j in 0..kw {
                    let Some(ix) = input_coord(&window.cols, window.strides[1], x, j, w) else {
                        continue;
                    };
                    let s = &image[(iy * w + ix) * c..][..c];
                    let k = &kernel[(i * kw + j) * c..][..c];
                    for ((o, &v), &wt) in row.iter_mut().zip(s).zip(k) {
                        *o = o.mul_add(v, wt);
                    }
                }
            }
        }
        Source::Flat => unreachable!("flat rows are copied whole"),
    }
}

/// The engine's global average pooling: the pixels of `acc` (rows of `width` lanes, in
/// row-major pixel order) added one after the other, each partial sum saturated to the signed
/// 20-bit range.
#[inline(always)]
fn saturating_sum(acc: &[i32], width: usize, out: &mut [i32]) {
    let mut sums = vec![0i64; width];
    for pixel in acc.chunks_exact(width) {
        for (s, &p) in sums.iter_mut().zip(pixel) {
            *s = (*s + i64::from(p)).clamp(i64::from(SATURATION_MIN), i64::from(SATURATION_MAX));
        }
    }
    for (o, s) in out.iter_mut().zip(sums) {
        *o = s as i32;
    }
}

/// Keras max pooling over `acc` (`conv` pixels of `width` lanes, a multiple of 8) into `out`.
#[inline(always)]
fn max_pool(acc: &[i32], conv: Dims, width: usize, pool: &MaxPool, out: &mut [i32]) {
    let w = conv.width as usize;
    let mut pixels = out.chunks_exact_mut(width);
    for &(y0, y1) in &pool.rows {
        for &(x0, x1) in &pool.cols {
            let dst = pixels.next().expect("one output pixel per window");
            for (c, d) in dst.chunks_exact_mut(8).enumerate() {
                let mut best = [i32::MIN; 8];
                for y in y0..y1 {
                    for x in x0..x1 {
                        let cell: &[i32; 8] = acc[(y * w + x) * width + c * 8..][..8]
                            .try_into()
                            .expect("8 lanes");
                        for j in 0..8 {
                            best[j] = best[j].max(cell[j]);
                        }
                    }
                }
                d.copy_from_slice(&best);
            }
        }
    }
}
