//@ cmd: check --target akd1000 {file} --weights {dir}/tiny_gamma_first_layer.npz
// errors.json `tiny_gamma_first_layer_map_AKD1000`: "Cannot map layer 'conv2d'. All weights in a
// hrc layer cannot be zeroes." — batch-norm gammas of 1e-4 fold the first kernel to nothing
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
