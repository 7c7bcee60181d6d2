// a linear quantizer without its scale, with a non-boolean per_axis, and fractional bits
quantizer a = linear(bits: 4)
quantizer b = linear(bits: 4, scale: kmax / max(abs(w)), per_axis: 1)
quantizer c = linear(bits: 2.5, scale: kmax / max(abs(w)))
model m {
    input([28, 28, 1])
    conv2d(8, 3, quantizer: a)
    conv2d(8, 3, quantizer: b)
    flatten()
    dense(10, quantizer: c)
}
