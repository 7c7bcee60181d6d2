//@ cmd: check --target akd1000 {file} --weights {dir}/emit_rules.npz
// what only the numbers show: an input offset outside the uint8 range, 16-bit weights in the first
// layer
model emit {
    input([8, 8, 1], scale: 255, offset: -3)
    conv2d(4, 3, quantizer: max_per_axis(bits: 16))
    quantized_relu(bits: 4)
    flatten()
    dense(2, quantizer: max_per_axis(bits: 4))
}
