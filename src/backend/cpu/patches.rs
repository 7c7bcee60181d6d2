//! Window bookkeeping shared by the convolutions: zero-padding of NHWC images, the offset
//! tables that address the elements of a window (implicit im2col), and cropping padded
//! gradients back to the input.

use super::buffer::scratch;
use super::geometry::Geometry2d;
use super::parallel::{for_each_chunk, items_per_task};

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
pub(crate) fn crop(g: &Geometry2d, src: &[f32], n: usize, c: usize, dst: &mut [f32]) {
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
