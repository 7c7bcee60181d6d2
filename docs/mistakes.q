// mistakes.q — a model with the mistakes people make, to show qnnc's diagnostics
quantizer q4 = max(bits: 4)

model mistakes {
    input([28, 28, 1], scale: 255)
    conv = conv2d(8, 3, paddin: same, quantizer: q4)
    max_pool(2)
    conv = conv2d(16, 3, quantizer: q3)
    quantized_relu(bits: 0)
    flatten()
    dense(10, quantizer: max(bits: 1))
}
