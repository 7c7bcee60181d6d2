//@ cmd: check --target akd1000 {file} --weights {dir}/null_gamma_after_maxpool.npz
// errors.json `null_gamma_after_maxpool`: "There are 1 negative gammas in the batch norm layer batch_normalization. (a zero gamma)"
model toy {
    input([28, 28, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv2d(8, 3)
    max_pool(2)
    batch_norm()
    relu()
    flatten()
    dense(10)
    softmax()
}
