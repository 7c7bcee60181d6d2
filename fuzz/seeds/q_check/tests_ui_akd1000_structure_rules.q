//@ cmd: check --target akd1000 {file}
// more AKD1000 layer limits: input-layer filters, pooling that feeds no convolution, the size of a
// fully-connected input
model big {
    input([64, 64, 3], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv2d(128, 7, padding: same)
    relu()
    conv2d(16, 3, padding: same)
    max_pool(2, padding: same)
    relu()
    flatten()
    dense(10)
}
