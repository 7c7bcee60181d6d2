//@ cmd: check --target akd1000 {file}
// without `quantize(...)`: a separable layer whose depthwise and pointwise bit-widths differ, and
// a fully-connected layer with more inputs than the AKD1000 takes
quantizer q4 = max_per_axis(bits: 4)

model sep {
    input([256, 256, 3], scale: 255)
    conv2d(8, 3, padding: same, quantizer: max_per_axis(bits: 8))
    quantized_relu(bits: 4)
    separable_conv2d(16, 3, padding: same, quantizer: q4, quantizer_dw: max(bits: 2))
    quantized_relu(bits: 4)
    flatten()
    dense(10, quantizer: q4)
}
