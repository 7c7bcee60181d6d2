//@ cmd: check --target akd1000 {file} --weights {dir}/null_gamma_no_pool.npz
// errors.json `null_gamma_no_pool`: "There are 1 null gammas in the batch norm layer
// batch_normalization. Null gammas are not supported."
model m {
    input([28, 28, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv2d(8, 3)
    batch_norm()
    relu()
    flatten()
    dense(10)
}
