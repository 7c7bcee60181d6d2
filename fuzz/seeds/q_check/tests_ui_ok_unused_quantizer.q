// a quantizer that no layer uses is a warning only: the check succeeds
quantizer q8 = max(bits: 8)
quantizer spare = std_per_axis(bits: 4, threshold: 2.5)

model m {
    input([28, 28, 1], scale: 255)
    conv2d(8, 3, quantizer: q8)
    flatten()
    dense(10)
}
