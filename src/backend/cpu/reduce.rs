//! Column reductions of row-major matrices (`rows × c`, the last row possibly partial), the
//! inner loops of bias gradients and batch statistics. Rows are taken four at a time and
//! combined pairwise before touching the accumulator, `acc += (r0 + r1) + (r2 + r3)`, which
//! keeps the loop-carried dependency on `acc` short; the order is fixed by the data layout
//! alone.

/// Splits `m` into groups of four rows and a remainder of fewer than four rows.
#[inline(always)]
fn quads(m: &[f32], c: usize) -> (std::slice::ChunksExact<'_, f32>, &[f32]) {
    let q = m.chunks_exact(4 * c);
    let rest = q.remainder();
    (q, rest)
}

/// The four rows of a group.
#[inline(always)]
fn split4(q: &[f32], c: usize) -> (&[f32], &[f32], &[f32], &[f32]) {
    let (a, b) = q.split_at(2 * c);
    let (r0, r1) = a.split_at(c);
    let (r2, r3) = b.split_at(c);
    (r0, r1, r2, r3)
}

/// `acc[j] += Σ_r m[r·c + j]` with `c = acc.len()`.
#[inline(always)]
pub(crate) fn add_column_sums(m: &[f32], acc: &mut [f32]) {
    let c = acc.len();
    let (groups, rest) = quads(m, c);
    for q in groups {
        let (r0, r1, r2, r3) = split4(q, c);
        let rows = r0.iter().zip(r1).zip(r2).zip(r3);
        for (a, (((&x0, &x1), &x2), &x3)) in acc.iter_mut().zip(rows) {
            *a += (x0 + x1) + (x2 + x3);
        }
    }
    for row in rest.chunks(c) {
        for (a, &x) in acc.iter_mut().zip(row) {
            *a += x;
        }
    }
}

/// `acc[j] += Σ_r (m[r·c + j] − mean[j])²`.
#[inline(always)]
pub(crate) fn add_centered_squares(m: &[f32], mean: &[f32], acc: &mut [f32]) {
    let c = acc.len();
    let sq = |x: f32, mu: f32| (x - mu) * (x - mu);
    let (groups, rest) = quads(m, c);
    for q in groups {
        let (r0, r1, r2, r3) = split4(q, c);
        let rows = r0.iter().zip(r1).zip(r2).zip(r3).zip(mean);
        for (a, ((((&x0, &x1), &x2), &x3), &mu)) in acc.iter_mut().zip(rows) {
            *a += (sq(x0, mu) + sq(x1, mu)) + (sq(x2, mu) + sq(x3, mu));
        }
    }
    for row in rest.chunks(c) {
        for ((a, &x), &mu) in acc.iter_mut().zip(row).zip(mean) {
            *a += sq(x, mu);
        }
    }
}

/// `sd[j] += Σ_r dy[r·c + j]` and `sdx[j] += Σ_r dy[r·c + j]·(x[r·c + j] − mean[j])`.
#[inline(always)]
pub(crate) fn add_gradient_sums(
    x: &[f32],
    dy: &[f32],
    mean: &[f32],
    sd: &mut [f32],
    sdx: &mut [f32],
) {
    let c = sd.len();
    let (xg, xrest) = quads(x, c);
    let (dg, drest) = quads(dy, c);
    let t = |x: f32, d: f32, mu: f32| d * (x - mu);
    for (xq, dq) in xg.zip(dg) {
        let (x0, x1, x2, x3) = split4(xq, c);
        let (d0, d1, d2, d3) = split4(dq, c);
        for j in 0..c {
            let mu = mean[j];
            sd[j] += (d0[j] + d1[j]) + (d2[j] + d3[j]);
            sdx[j] += (t(x0[j], d0[j], mu) + t(x1[j], d1[j], mu))
                + (t(x2[j], d2[j], mu) + t(x3[j], d3[j], mu));
        }
    }
    for (xr, dr) in xrest.chunks(c).zip(drest.chunks(c)) {
        let lanes = sd.iter_mut().zip(sdx.iter_mut()).zip(xr).zip(dr).zip(mean);
        for ((((a, b), &x), &d), &mu) in lanes {
            *a += d;
            *b += t(x, d, mu);
        }
    }
}
