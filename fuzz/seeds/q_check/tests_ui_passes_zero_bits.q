//@ cmd: quantize {file} --weights {dir}/zero_bits.npz
// `quantize(weights: 0)` cannot turn an explicitly quantized layer or activation back to float
model toy {
    input([28, 28, 1], scale: 255)
    quantize(weights: 0, activations: 0)
    conv2d(8, 3, quantizer: max_per_axis(bits: 8))
    max_pool(2)
    quantized_relu(bits: 4)
    flatten()
    dense(10)
}
