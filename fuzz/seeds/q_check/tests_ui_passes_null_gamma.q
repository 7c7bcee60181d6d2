//@ cmd: check {file} --weights {dir}/null_gamma.npz
// a zero gamma in a batch norm folded into the convolution before it
model toy {
    input([28, 28, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv = conv2d(8, 3)
    bn = batch_norm()
    relu()
    flatten()
    dense(10)
}
