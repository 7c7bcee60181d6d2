//! Window bookkeeping shared by the convolutions (standard and depthwise): zero-padding of
//! NHWC images, the offset tables that address the elements of a window (implicit im2col),
//! and the frame of their backward passes: the parameter-gradient reduction over the batch and
//! the input gradient written on padded images, then cropped back to the input.

use ndarray::{Array1, Array4, ArrayView4, Ix1, Ix4};

use super::buffer::{contiguous, dims4, reshape_buffer, scratch, slice_mut, slice_of};
use super::context::Cpu;
use super::geometry::Geometry2d;
use super::parallel::{for_each_chunk, items_per_task, reduce_tasks, Partials};
use super::reduce::add_column_sums;

/// Offsets, in a padded image with `c` channels, of the `kh·kw·c` elements of a window relative
/// to its first element, in Keras kernel order `(ky, kx, ci)`.
pub(crate) fn window_offsets(g: &Geometry2d, c: usize, out: &mut Vec<usize>) {
    let wp = g.padded_w();
    out.clear();
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            out.extend((0..c).map(|ci| (ky * wp + kx) * c + ci));
        }
    }
}

/// Offset of each output pixel's window origin within one padded image with `c` channels, in
/// output order `(oy, ox)`.
pub(crate) fn origin_offsets(g: &Geometry2d, c: usize, out: &mut Vec<usize>) {
    let wp = g.padded_w();
    out.clear();
    for oy in 0..g.out_h {
        out.extend((0..g.out_w).map(|ox| (oy * g.sh * wp + ox * g.sw) * c));
    }
}

/// Elements of one padded image.
pub(crate) fn padded_image_len(g: &Geometry2d, c: usize) -> usize {
    g.padded_h() * g.padded_w() * c
}

/// The input as padded images: `x` itself when the geometry adds no padding, otherwise a
/// zero-padded copy written into `buf`.
pub(crate) fn padded_input<'a>(
    g: &Geometry2d,
    x: &'a [f32],
    n: usize,
    c: usize,
    buf: &'a mut Vec<f32>,
) -> &'a [f32] {
    if !g.is_padded() {
        return x;
    }
    let img = padded_image_len(g, c);
    let row = g.in_w * c;
    let wp = g.padded_w();
    let dst = scratch(buf, n * img);
    let per = items_per_task(n, img);
    for_each_chunk(dst, per * img, |t, chunk| {
        for (i, out) in chunk.chunks_exact_mut(img).enumerate() {
            let src = &x[(t * per + i) * g.in_h * row..][..g.in_h * row];
            out.fill(0.0);
            for (iy, line) in src.chunks_exact(row).enumerate() {
                let at = ((iy + g.pad_top) * wp + g.pad_left) * c;
                out[at..at + row].copy_from_slice(line);
            }
        }
    });
    dst
}

/// Copies the interior of padded images `src` into unpadded images `dst`.
fn crop(g: &Geometry2d, src: &[f32], n: usize, c: usize, dst: &mut [f32]) {
    let img = padded_image_len(g, c);
    let row = g.in_w * c;
    let wp = g.padded_w();
    let out_img = g.in_h * row;
    assert_eq!(src.len(), n * img, "padded gradient size");
    assert_eq!(dst.len(), n * out_img, "gradient size");
    let per = items_per_task(n, out_img);
    for_each_chunk(dst, per * out_img, |t, chunk| {
        for (i, out) in chunk.chunks_exact_mut(out_img).enumerate() {
            let padded = &src[(t * per + i) * img..][..img];
            for (iy, line) in out.chunks_exact_mut(row).enumerate() {
                let at = ((iy + g.pad_top) * wp + g.pad_left) * c;
                line.copy_from_slice(&padded[at..at + row]);
            }
        }
    });
}

/// The parameter gradients of a convolution over a batch: `dkernel = Σ_s term(s)` and `dbias =
/// Σ dy` (when asked for), from the output gradient `dy`. `term(s, dy_s, acc)` adds image `s`'s
/// kernel term, given its output gradient `dy_s`, to `acc` (`dkernel.len()` values); it runs
/// with the context's instruction set, so it should be `#[inline(always)]`. Each task sums whole
/// images and the tasks' sums are added in task order, so the bits do not depend on the thread
/// count.
pub(crate) fn param_grads<F>(
    cx: &Cpu,
    dy: ArrayView4<'_, f32>,
    sums: &mut Partials,
    dkernel: &mut [f32],
    dbias: Option<&mut Array1<f32>>,
    term: F,
) where
    F: Fn(usize, &[f32], &mut [f32]) + Sync + Send,
{
    let [n, oh, ow, c] = dims4(&dy);
    let dy = contiguous(&dy);
    let dys = slice_of(&dy);
    let (kernel_len, image) = (dkernel.len(), oh * ow * c);
    let per = items_per_task(n, oh * ow * kernel_len);
    let total = reduce_tasks(
        cx,
        n.div_ceil(per),
        kernel_len + c,
        sums,
        #[inline(always)]
        |t, part| {
            let (pk, pb) = part.split_at_mut(kernel_len);
            for s in t * per..((t + 1) * per).min(n) {
                let dys_s = &dys[s * image..][..image];
                term(s, dys_s, pk);
                add_column_sums(dys_s, pb);
            }
        },
    );
    dkernel.copy_from_slice(&total[..kernel_len]);
    if let Some(db) = dbias {
        reshape_buffer(db, Ix1(c));
        slice_mut(db).copy_from_slice(&total[kernel_len..]);
    }
}

/// Shapes `dx` as `n` input images of `c` channels and runs `f(target)` on where their gradient
/// is accumulated: `dx` itself when `g` adds no padding, otherwise padded images in `buf`,
/// cropped into `dx` afterwards (the gradient of [`padded_input`]). `f` must write every
/// element of `target`.
pub(crate) fn padded_gradient(
    g: &Geometry2d,
    n: usize,
    c: usize,
    dx: &mut Array4<f32>,
    buf: &mut Vec<f32>,
    f: impl FnOnce(&mut [f32]),
) {
    reshape_buffer(dx, Ix4(n, g.in_h, g.in_w, c));
    if g.is_padded() {
        let padded = scratch(buf, n * padded_image_len(g, c));
        f(padded);
        crop(g, padded, n, c, slice_mut(dx));
    } else {
        f(slice_mut(dx));
    }
}
