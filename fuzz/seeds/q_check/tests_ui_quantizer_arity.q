// formula functions called with the wrong number of arguments
quantizer a = linear(bits: 4, scale: clip(kmax / max(abs(w)), 0))
quantizer b = linear(bits: 4, scale: kmax / max(abs(w), 1))
quantizer c = linear(bits: 4, scale: kmax / std())
model m {
    input([28, 28, 1])
    conv2d(8, 3, quantizer: a)
    conv2d(8, 3, quantizer: b)
    flatten()
    dense(10, quantizer: c)
}
