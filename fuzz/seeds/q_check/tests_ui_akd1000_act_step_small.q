//@ cmd: check --target akd1000 {file} --weights {dir}/act_step_small.npz
// an integer-engine limit, for any target: an act_step below 1/16 — a coarse activation
// (step 1000) feeding a layer whose own activation step is tiny (0.01)
model small {
    input([16, 16, 1], scale: 255)
    conv0 = conv2d(8, 3, padding: same, quantizer: max_per_axis(bits: 8))
    quantized_relu(bits: 1, max_value: 1000)
    conv1 = conv2d(8, 3, padding: same, quantizer: max_per_axis(bits: 4))
    quantized_relu(bits: 1, max_value: 0.01)
    flatten()
    dense(2, quantizer: max_per_axis(bits: 4))
}
