//@ cmd: check --target akd1000 {file}
// more design rules: a batch norm that cannot be folded, a float activation, a dense layer on an
// image, a softmax before a neural layer
quantizer q = max_per_axis(bits: 4)

model rules2 {
    input([16, 16, 1], scale: 255)
    conv2d(8, 3, padding: same, quantizer: max_per_axis(bits: 8))
    quantized_relu(bits: 4)
    batch_norm()
    conv2d(8, 3, padding: same, quantizer: q)
    relu()
    dense(4, quantizer: q)
    quantized_relu(bits: 4)
    softmax()
    flatten()
    dense(2, quantizer: q)
}
