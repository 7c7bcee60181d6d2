//@ cmd: check --target akd1000 {file} --weights {dir}/toy.npz
// errors.json `weight_bitwidth_3_convert`: "Weight bitwidth must be in (2, 4, 8). Receives bitwidth 3 in layer 'dense'."
model toy {
    input([28, 28, 1], scale: 255)
    quantize(weights: 3, activations: 4, input_weights: 8)
    conv2d(8, 3)
    max_pool(2)
    batch_norm()
    relu()
    flatten()
    dense(10)
    softmax()
}
