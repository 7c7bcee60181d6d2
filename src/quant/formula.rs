//! The `linear` quantizer: a CNN2SNN `LinearWeightQuantizer` whose `scale_factor(w)` is a
//! [`ScaleExpr`] formula, evaluated like the equivalent TF 2 Python code, with reverse-mode
//! gradients for the path through the scale factor.
//!
//! Evaluation rules (those of Python + TF):
//! * `kmax`, `bits` and literal numbers are Python numbers: arithmetic among them alone is
//!   exact Python float arithmetic (f64); a number becomes an f32 tensor where it meets one
//!   (an operand of an op with a tensor, or the argument of a function). Division of two
//!   numbers by zero gives an IEEE infinity (Python would raise).
//! * Every op on tensors is one f32 op with NumPy broadcasting; reductions follow TF's order
//!   (see `reduce`): over every axis, or every axis but the last when `per_axis`.
//! * `clip(x, lo, hi)` is `maximum(minimum(x, hi), lo)`.
//! * Gradients are TF's registered ones: `reduce_max`/`reduce_min` share the upstream among
//!   tied extrema, `abs` → `sign` (0 at 0), `sqrt` → `(0.5·g)/y` (0 where `g` is 0), `minimum`
//!   passes where `x ≤ hi`, `maximum` where `t ≥ lo`, `a / b` gives `g / b` and
//!   `g · ((−a / b) / b)`, broadcast operands get the sum of their gradient.

use super::reduce::{self, Layout};
use super::weight::{ScaleFactor, WeightQuantizer};
use super::{BinOp, ScaleExpr, ScaleFn};
use ndarray::{ArrayD, ArrayViewD, IxDyn, Zip};
use std::borrow::Cow;

/// What kind of value a scale formula yields, from the most to the least constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Extent {
    /// A Python number (no `w` involved).
    Constant,
    /// One value.
    Scalar,
    /// One value per index of the kernel's last axis.
    PerAxis,
    /// A value per weight.
    Full,
}

impl ScaleExpr {
    /// The kind of value the formula yields for a kernel of rank ≥ 2. A scale factor must not
    /// be [`Extent::Full`]; the front end rejects such formulas.
    pub fn extent(&self, per_axis: bool) -> Extent {
        match self {
            ScaleExpr::Num(_) | ScaleExpr::Kmax | ScaleExpr::Bits => Extent::Constant,
            ScaleExpr::W => Extent::Full,
            ScaleExpr::Neg(x) => x.extent(per_axis),
            ScaleExpr::Bin(_, a, b) => a.extent(per_axis).max(b.extent(per_axis)),
            ScaleExpr::Call(f, x) => {
                let inner = x.extent(per_axis).max(Extent::Scalar);
                match (f.is_reduction(), per_axis) {
                    (false, _) => inner,
                    (true, false) => Extent::Scalar,
                    (true, true) => inner.min(Extent::PerAxis),
                }
            }
            ScaleExpr::Clip(x, lo, hi) => x
                .extent(per_axis)
                .max(lo.extent(per_axis))
                .max(hi.extent(per_axis))
                .max(Extent::Scalar),
        }
    }
}

/// A `LinearWeightQuantizer` with a formula scale factor (`linear(bits, scale, per_axis)`).
///
/// The scale factor is not clipped unless the formula clips it:
/// `clip(kmax / max(abs(w)), 0, 1000)` gives exactly what `max` gives.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearQuantizer {
    bits: u32,
    scale: ScaleExpr,
    per_axis: bool,
}

impl LinearQuantizer {
    /// A quantizer computing `sf = scale(w)`.
    ///
    /// Panics if `bits < 2` or if the formula yields a value per weight: both are rejected
    /// by the front end.
    pub fn new(bits: u32, scale: ScaleExpr, per_axis: bool) -> LinearQuantizer {
        assert!(
            bits > 1,
            "a weight quantizer needs more than 1 bit (the front end rejects bitwidth {bits})"
        );
        assert!(
            scale.extent(per_axis) != Extent::Full,
            "a linear scale formula must reduce `w` (the front end rejects `{scale:?}`)"
        );
        LinearQuantizer {
            bits,
            scale,
            per_axis,
        }
    }

    /// The scale formula.
    pub fn scale(&self) -> &ScaleExpr {
        &self.scale
    }

    /// Whether reductions keep the last axis.
    pub fn is_per_axis(&self) -> bool {
        self.per_axis
    }

    fn context<'a>(&self, w: &'a ArrayViewD<'a, f32>) -> Ctx<'a> {
        Ctx {
            w: w.as_standard_layout(),
            kmax: 2f64.powi(self.bits as i32 - 1) - 1.0,
            bits: self.bits as f64,
            per_axis: self.per_axis,
        }
    }
}

impl WeightQuantizer for LinearQuantizer {
    fn bits(&self) -> u32 {
        self.bits
    }

    fn scale_factor(&self, w: ArrayViewD<'_, f32>) -> ScaleFactor {
        let cx = self.context(&w);
        let root = eval(&self.scale, &cx);
        match root.val {
            Val::Num(v) => ScaleFactor::Scalar(v as f32),
            Val::Tensor(t) => to_scale_factor(t, w.shape()),
        }
    }

    fn scale_factor_vjp(&self, w: ArrayViewD<'_, f32>, d_sf: &ScaleFactor) -> ArrayD<f32> {
        let cx = self.context(&w);
        let root = eval(&self.scale, &cx);
        let mut dw = ArrayD::zeros(w.raw_dim());
        if let Val::Tensor(t) = &root.val {
            let g = d_sf.to_array();
            assert_eq!(
                g.shape(),
                t.shape(),
                "the scale-factor gradient must be shaped like the scale factor"
            );
            backward(&self.scale, &root, g, &cx, &mut dw);
        }
        dw
    }
}

/// Checks that a formula result is a scale factor for a kernel of shape `w_shape`.
fn to_scale_factor(t: ArrayD<f32>, w_shape: &[usize]) -> ScaleFactor {
    let ok = t.ndim() == 0 || (t.ndim() == 1 && Some(&t.len()) == w_shape.last());
    assert!(
        ok,
        "a linear scale formula yielded shape {:?} for a kernel of shape {w_shape:?}: it must \
         yield a scalar or one value per output channel",
        t.shape()
    );
    ScaleFactor::from_array(t)
}

/// Evaluation context: the kernel and the quantizer's Python numbers.
struct Ctx<'a> {
    w: ndarray::CowArray<'a, f32, IxDyn>,
    kmax: f64,
    bits: f64,
    per_axis: bool,
}

/// A node value: a Python number or an f32 tensor.
#[derive(Clone, Debug)]
enum Val {
    Num(f64),
    Tensor(ArrayD<f32>),
}

impl Val {
    /// The value as a tensor (a number becomes an f32 scalar, as TF converts it).
    fn tensor(&self) -> Cow<'_, ArrayD<f32>> {
        match self {
            Val::Num(v) => Cow::Owned(ArrayD::from_elem(IxDyn(&[]), *v as f32)),
            Val::Tensor(t) => Cow::Borrowed(t),
        }
    }
}

/// The evaluated formula tree: each node's value and its children's.
struct Node {
    val: Val,
    kids: Vec<Node>,
}

fn leaf(val: Val) -> Node {
    Node {
        val,
        kids: Vec::new(),
    }
}

fn eval(e: &ScaleExpr, cx: &Ctx<'_>) -> Node {
    match e {
        ScaleExpr::Num(v) => leaf(Val::Num(*v)),
        ScaleExpr::Kmax => leaf(Val::Num(cx.kmax)),
        ScaleExpr::Bits => leaf(Val::Num(cx.bits)),
        ScaleExpr::W => leaf(Val::Tensor(cx.w.to_owned())),
        ScaleExpr::Neg(x) => {
            let k = eval(x, cx);
            let val = match &k.val {
                Val::Num(v) => Val::Num(-v),
                Val::Tensor(t) => Val::Tensor(t.mapv(|v| -v)),
            };
            Node { val, kids: vec![k] }
        }
        ScaleExpr::Bin(op, a, b) => {
            let (ka, kb) = (eval(a, cx), eval(b, cx));
            let val = match (&ka.val, &kb.val) {
                (Val::Num(x), Val::Num(y)) => Val::Num(apply(*op, *x, *y)),
                (va, vb) => Val::Tensor(zip_with(&va.tensor(), &vb.tensor(), |x, y| {
                    apply(*op, x, y)
                })),
            };
            Node {
                val,
                kids: vec![ka, kb],
            }
        }
        ScaleExpr::Call(f, x) => {
            let k = eval(x, cx);
            let val = Val::Tensor(call(*f, &k.val.tensor(), cx.per_axis));
            Node { val, kids: vec![k] }
        }
        ScaleExpr::Clip(x, lo, hi) => {
            let kids = vec![eval(x, cx), eval(lo, cx), eval(hi, cx)];
            let t = zip_with(&kids[0].val.tensor(), &kids[2].val.tensor(), tf_minimum);
            let y = zip_with(&t, &kids[1].val.tensor(), tf_maximum);
            Node {
                val: Val::Tensor(y),
                kids,
            }
        }
    }
}

/// `x op y` in the precision of the operands (f64 for scalars, f32 for tensors).
fn apply<T>(op: BinOp, x: T, y: T) -> T
where
    T: std::ops::Add<Output = T>
        + std::ops::Sub<Output = T>
        + std::ops::Mul<Output = T>
        + std::ops::Div<Output = T>,
{
    match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => x / y,
    }
}

/// TF `minimum` (NaN in `x` propagates).
fn tf_minimum(x: f32, y: f32) -> f32 {
    if y < x {
        y
    } else {
        x
    }
}

/// TF `maximum` (NaN in `x` propagates).
fn tf_maximum(x: f32, y: f32) -> f32 {
    if x < y {
        y
    } else {
        x
    }
}

/// The shape of a reduction's result.
fn reduced_shape(shape: &[usize], per_axis: bool) -> Vec<usize> {
    if per_axis && !shape.is_empty() {
        vec![shape[shape.len() - 1]]
    } else {
        Vec::new()
    }
}

/// A tensor's values in row-major order.
fn flat(a: &ArrayD<f32>) -> Cow<'_, [f32]> {
    match a.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(a.iter().copied().collect()),
    }
}

fn from_vec(shape: &[usize], v: Vec<f32>) -> ArrayD<f32> {
    ArrayD::from_shape_vec(IxDyn(shape), v).expect("value count matches the shape")
}

fn call(f: ScaleFn, x: &ArrayD<f32>, per_axis: bool) -> ArrayD<f32> {
    let layout = Layout::of(x.shape(), per_axis);
    let out_shape = reduced_shape(x.shape(), per_axis);
    let v = flat(x);
    let at = |i: usize, _: usize| v[i];
    match f {
        ScaleFn::Max => from_vec(&out_shape, reduce::max(layout, &at)),
        ScaleFn::Min => from_vec(&out_shape, reduce::min(layout, &at)),
        ScaleFn::Mean => from_vec(&out_shape, reduce::mean(layout, &at)),
        ScaleFn::Std => from_vec(&out_shape, reduce::std(layout, &at).sigma),
        ScaleFn::Abs => x.mapv(f32::abs),
        ScaleFn::Sqrt => x.mapv(f32::sqrt),
    }
}

/// NumPy broadcasting of two shapes. Panics on incompatible shapes, which the value kinds of
/// a formula (scalar, per-axis vector, kernel) never produce.
fn broadcast_shape(a: &[usize], b: &[usize]) -> Vec<usize> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let da = if i + a.len() >= n {
                a[i + a.len() - n]
            } else {
                1
            };
            let db = if i + b.len() >= n {
                b[i + b.len() - n]
            } else {
                1
            };
            match (da, db) {
                _ if da == db => da,
                (1, _) => db,
                (_, 1) => da,
                _ => panic!("formula values of shapes {a:?} and {b:?} do not broadcast"),
            }
        })
        .collect()
}

/// Elementwise `f(a, b)` with broadcasting.
fn zip_with(a: &ArrayD<f32>, b: &ArrayD<f32>, f: impl Fn(f32, f32) -> f32) -> ArrayD<f32> {
    let shape = IxDyn(&broadcast_shape(a.shape(), b.shape()));
    let av = a
        .broadcast(shape.clone())
        .expect("shape is a broadcast of a");
    let bv = b.broadcast(shape).expect("shape is a broadcast of b");
    let v: Vec<f32> = av.iter().zip(bv.iter()).map(|(&x, &y)| f(x, y)).collect();
    ArrayD::from_shape_vec(av.raw_dim(), v).expect("value count matches the shape")
}

/// Elementwise `f(a, b, c)` with broadcasting.
fn zip3_with(
    a: &ArrayD<f32>,
    b: &ArrayD<f32>,
    c: &ArrayD<f32>,
    f: impl Fn(f32, f32, f32) -> f32,
) -> ArrayD<f32> {
    let shape = broadcast_shape(&broadcast_shape(a.shape(), b.shape()), c.shape());
    let mut out = ArrayD::zeros(IxDyn(&shape));
    Zip::from(&mut out)
        .and_broadcast(a)
        .and_broadcast(b)
        .and_broadcast(c)
        .for_each(|o, &x, &y, &z| *o = f(x, y, z));
    out
}

/// Sums a gradient over the axes along which a value of shape `target` was broadcast (TF's
/// `reduce_sum(grad, broadcast_axes)`, in TF's order).
fn unbroadcast(g: ArrayD<f32>, target: &[usize]) -> ArrayD<f32> {
    if g.shape() == target {
        return g;
    }
    let v = flat(&g);
    let at = |i: usize, _: usize| v[i];
    if target.is_empty() {
        let s = reduce::sum(Layout::all(g.len()), &at);
        return from_vec(target, s);
    }
    assert!(
        target.len() == 1 && g.ndim() >= 1 && g.shape().last() == target.last(),
        "a formula gradient of shape {:?} cannot be reduced to {target:?}",
        g.shape()
    );
    let s = reduce::sum(Layout::per_axis(g.shape()), &at);
    from_vec(target, s)
}

/// Propagates `g` (the gradient of `node`'s value) to the kernel, accumulating into `dw`.
fn backward(e: &ScaleExpr, node: &Node, g: ArrayD<f32>, cx: &Ctx<'_>, dw: &mut ArrayD<f32>) {
    if matches!(node.val, Val::Num(_)) {
        return;
    }
    match e {
        ScaleExpr::W => *dw += &g,
        ScaleExpr::Num(_) | ScaleExpr::Kmax | ScaleExpr::Bits => {
            unreachable!("numbers have no tensor value")
        }
        ScaleExpr::Neg(x) => backward(x, &node.kids[0], g.mapv(|v| -v), cx, dw),
        ScaleExpr::Bin(op, a, b) => {
            let (ka, kb) = (&node.kids[0], &node.kids[1]);
            let (va, vb) = (ka.val.tensor(), kb.val.tensor());
            let (ga, gb) = match op {
                BinOp::Add => (g.clone(), g),
                BinOp::Sub => (g.clone(), g.mapv(|v| -v)),
                BinOp::Mul => (
                    zip_with(&g, &vb, |g, y| g * y),
                    zip_with(&va, &g, |x, g| x * g),
                ),
                BinOp::Div => (
                    zip_with(&g, &vb, |g, y| g / y),
                    zip3_with(&g, &va, &vb, |g, x, y| g * ((-x / y) / y)),
                ),
            };
            if matches!(ka.val, Val::Tensor(_)) {
                backward(a, ka, unbroadcast(ga, va.shape()), cx, dw);
            }
            if matches!(kb.val, Val::Tensor(_)) {
                backward(b, kb, unbroadcast(gb, vb.shape()), cx, dw);
            }
        }
        ScaleExpr::Call(f, x) => {
            let k = &node.kids[0];
            let gx = call_vjp(*f, &k.val.tensor(), &node.val.tensor(), &g, cx.per_axis);
            backward(x, k, gx, cx, dw);
        }
        ScaleExpr::Clip(x, lo, hi) => {
            let (kx, klo, khi) = (&node.kids[0], &node.kids[1], &node.kids[2]);
            let (vx, vlo, vhi) = (kx.val.tensor(), klo.val.tensor(), khi.val.tensor());
            let t = zip_with(&vx, &vhi, tf_minimum);
            // maximum(t, lo): t gets g where t ≥ lo, lo gets the rest.
            let g_t = zip3_with(&g, &t, &vlo, |g, t, lo| if t >= lo { g } else { 0.0 });
            let g_lo = zip3_with(&g, &t, &vlo, |g, t, lo| if t >= lo { 0.0 } else { g });
            let g_t = unbroadcast(g_t, t.shape());
            // minimum(x, hi): x gets g where x ≤ hi, hi gets the rest.
            let g_x = zip3_with(&g_t, &vx, &vhi, |g, x, hi| if x <= hi { g } else { 0.0 });
            let g_hi = zip3_with(&g_t, &vx, &vhi, |g, x, hi| if x <= hi { 0.0 } else { g });
            for (sub, kid, grad, shape) in [
                (x, kx, g_x, vx.shape()),
                (lo, klo, g_lo, vlo.shape()),
                (hi, khi, g_hi, vhi.shape()),
            ] {
                if matches!(kid.val, Val::Tensor(_)) {
                    backward(sub, kid, unbroadcast(grad, shape), cx, dw);
                }
            }
        }
    }
}

/// Gradient of a function call with respect to its argument `x`, given its output `y` and the
/// upstream `g` (shaped like `y`).
fn call_vjp(
    f: ScaleFn,
    x: &ArrayD<f32>,
    y: &ArrayD<f32>,
    g: &ArrayD<f32>,
    per_axis: bool,
) -> ArrayD<f32> {
    match f {
        ScaleFn::Abs => zip_with(g, x, |g, x| g * super::builtin::sign(x)),
        ScaleFn::Sqrt => zip_with(g, y, |g, y| if g == 0.0 { 0.0 } else { (0.5 * g) / y }),
        ScaleFn::Max | ScaleFn::Min | ScaleFn::Mean | ScaleFn::Std => {
            let layout = Layout::of(x.shape(), per_axis);
            let v = flat(x);
            let at = |i: usize, _: usize| v[i];
            let gv = flat(g);
            let mut out = vec![0.0f32; layout.len()];
            match f {
                ScaleFn::Max | ScaleFn::Min => {
                    reduce::extremum_vjp(layout, &at, &flat(y), &gv, &mut out)
                }
                ScaleFn::Mean => {
                    let n = layout.rows as f32;
                    reduce::for_each_elem(layout, &mut out, |_, c, o| *o = gv[c] / n);
                }
                _ => {
                    let parts = reduce::std(layout, &at);
                    reduce::std_vjp(layout, &at, &parts, &gv, &mut out);
                }
            }
            from_vec(x.shape(), out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call_of(f: ScaleFn, x: ScaleExpr) -> ScaleExpr {
        ScaleExpr::Call(f, Box::new(x))
    }

    fn bin(op: BinOp, a: ScaleExpr, b: ScaleExpr) -> ScaleExpr {
        ScaleExpr::Bin(op, Box::new(a), Box::new(b))
    }

    #[test]
    fn extents() {
        let max_abs = call_of(ScaleFn::Max, call_of(ScaleFn::Abs, ScaleExpr::W));
        assert_eq!(max_abs.extent(false), Extent::Scalar);
        assert_eq!(max_abs.extent(true), Extent::PerAxis);
        assert_eq!(
            bin(BinOp::Div, ScaleExpr::Kmax, ScaleExpr::Num(2.0)).extent(true),
            Extent::Constant
        );
        assert_eq!(
            call_of(ScaleFn::Abs, ScaleExpr::W).extent(false),
            Extent::Full
        );
        assert_eq!(
            call_of(ScaleFn::Sqrt, ScaleExpr::Bits).extent(false),
            Extent::Scalar
        );
    }

    #[test]
    fn numbers_use_python_arithmetic() {
        // 1 + (2^-24 + 2^-50): exact in f64, then one rounding to f32 gives 1 + 2^-23; adding
        // the two numbers as f32 would round 2^-24 + 2^-50 to 2^-24 and tie back to 1.
        let tiny = 2f64.powi(-24) + 2f64.powi(-50);
        let q = LinearQuantizer::new(
            4,
            bin(BinOp::Add, ScaleExpr::Num(1.0), ScaleExpr::Num(tiny)),
            false,
        );
        let w = ArrayD::<f32>::zeros(IxDyn(&[2, 2]));
        let want = 1.0 + 2f32.powi(-23);
        assert_ne!(1.0f32 + tiny as f32, want);
        assert_eq!(q.scale_factor(w.view()), ScaleFactor::Scalar(want));
    }

    #[test]
    #[should_panic(expected = "must reduce")]
    fn full_formula_is_rejected() {
        LinearQuantizer::new(4, call_of(ScaleFn::Abs, ScaleExpr::W), false);
    }

    #[test]
    fn broadcast_shapes() {
        assert_eq!(broadcast_shape(&[3, 3, 1, 8], &[8]), vec![3, 3, 1, 8]);
        assert_eq!(broadcast_shape(&[], &[8]), vec![8]);
        assert_eq!(broadcast_shape(&[4, 1], &[]), vec![4, 1]);
    }
}
