// names in a scale formula other than `w`, `kmax` and `bits`
quantizer a = linear(bits: 4, scale: kmax / max(abs(weights)))
quantizer b = linear(bits: 4, scale: kmx / max(abs(w)))
model m {
    input([28, 28, 1])
    conv2d(8, 3, quantizer: a)
    conv2d(8, 3, quantizer: b)
    flatten()
    dense(10)
}
