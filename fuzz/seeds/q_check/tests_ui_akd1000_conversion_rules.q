//@ cmd: check --target akd1000 {file}
// CNN2SNN's design rules, all reported in one run: missing activations, misplaced pooling and
// flatten, float and unsupported layers, mismatched separable bit-widths
model rules {
    input([32, 32, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv2d(8, 3, padding: same)
    conv2d(8, 3, padding: same)
    relu()
    relu()
    max_pool(2, padding: valid)
    separable_conv2d(16, 3, padding: same, quantizer: max_per_axis(bits: 4), quantizer_dw: max(bits: 2))
    max_pool(2, padding: valid)
    relu()
    avg_pool(2)
    flatten()
    relu()
    dense(10)
}
