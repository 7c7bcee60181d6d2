// toy_quantized.q — the tutorial's toy model written in float, quantized by one statement:
// cnn2snn.quantize(model, weight_quantization=4, activ_quantization=4,
// input_weight_quantization=8). BatchNormalization is folded into the convolution, every
// neural layer gets a per-axis max quantizer (8 bits for the first), and every ReLU becomes a
// 4-bit QuantizedReLU.
model toy_quantized {
    input([28, 28, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv2d(8, 3)
    max_pool(2)
    batch_norm()
    relu()
    flatten()
    dense(10)
    softmax()
}
