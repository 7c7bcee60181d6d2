//@ cmd: check --target akd1000 {file} --weights {dir}/threshold_range.npz
// an absurd input scale makes a threshold that does not even fit 32 bits
model huge {
    input([8, 8, 1], scale: 100000000)
    conv2d(4, 3, quantizer: max_per_axis(bits: 8))
    quantized_relu(bits: 4)
    flatten()
    dense(2, quantizer: max_per_axis(bits: 4))
}
