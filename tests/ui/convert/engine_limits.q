//@ cmd: compile {file} --weights {dir}/engine_limits.npz -o {tmp}/limits.nsoc
// not a limit: a global average pooling summing 4096 pixels of 8-bit products of a uint8 image
// could reach 8.9e9, but the akida engine saturates the sum to 20 bits (and wraps 32-bit
// potentials elsewhere); qnnc compiles it for the simulator, which does the same
model limits {
    input([64, 64, 3])
    conv0 = conv2d(8, 7, padding: same, quantizer: max_per_axis(bits: 8))
    global_avg_pool()
    quantized_relu(bits: 4)
    dense(2, quantizer: max_per_axis(bits: 4))
}
