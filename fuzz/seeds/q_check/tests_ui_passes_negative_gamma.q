//@ cmd: quantize {file} --weights {dir}/negative_gamma.npz
// two negative batch-norm gammas after a max pooling: cnn2snn cannot move the batch norm first
model toy {
    input([28, 28, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv2d(8, 3)
    max_pool(2)
    batch_norm()
    relu()
    flatten()
    dense(10)
}
