// scale formulas that still depend on each weight
quantizer a = linear(bits: 4, scale: kmax / abs(w))
quantizer b = linear(bits: 4, scale: kmax / max(abs(w)) + w, per_axis: true)
model m {
    input([28, 28, 1])
    conv2d(8, 3, quantizer: a)
    flatten()
    dense(10, quantizer: b)
}
