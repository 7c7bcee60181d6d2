//@ cmd: check --target akd1000 {file} --weights {dir}/engine_limits.npz
// an integer-engine limit, for any target: potentials that could overflow the 32-bit accumulator
// (a global average pooling sums 4096 pixels of 8-bit products of a uint8 image)
model limits {
    input([64, 64, 3])
    conv0 = conv2d(8, 7, padding: same, quantizer: max_per_axis(bits: 8))
    global_avg_pool()
    quantized_relu(bits: 4)
    dense(2, quantizer: max_per_axis(bits: 4))
}
