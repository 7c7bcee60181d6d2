// every layer, every quantizer kind and the `quantize` statement, with defaults and options
quantizer q4 = max_per_axis(bits: 4)
quantizer s4 = std(bits: 4, threshold: 3)
quantizer custom_std = linear(bits: 4, scale: kmax / (2 * std(w)))
quantizer as_max = linear(bits: 8, scale: clip(kmax / max(abs(w)), 0, 1000), per_axis: true)

model big {
    input([32, 32, 3], scale: 255, offset: -0.5)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv2d(16, [3, 3], strides: 1, padding: same, use_bias: false, quantizer: q4)
    batch_norm(epsilon: 1e-3, momentum: 0.99, gamma_min: 0.01)
    relu(max_value: 6)
    separable_conv2d(32, 3, strides: [2, 2], padding: same, quantizer: s4, quantizer_dw: max(bits: 8))
    quantized_relu(bits: 2)
    max_pool([2, 2], strides: 2, padding: valid)
    conv2d(32, 3, quantizer: custom_std)
    discrete_relu()
    avg_pool(2, padding: same)
    conv2d(64, 1, quantizer: as_max)
    global_avg_pool()
    dropout(0.25)
    dense(10, use_bias: true, quantizer: std_per_axis(bits: 2))
    softmax()
}
