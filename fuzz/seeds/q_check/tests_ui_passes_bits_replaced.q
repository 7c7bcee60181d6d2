//@ cmd: quantize {file} --weights {dir}/bits_replaced.npz
// `quantize(...)` replaces the bit-width of a layer quantized by hand (a warning, as cnn2snn does it)
model toy {
    input([28, 28, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv2d(8, 3)
    max_pool(2)
    relu()
    flatten()
    dense(10, quantizer: max_per_axis(bits: 2))
}
