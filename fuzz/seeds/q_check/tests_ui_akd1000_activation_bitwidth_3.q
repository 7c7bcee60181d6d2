//@ cmd: check --target akd1000 {file} --weights {dir}/toy.npz
// errors.json `activation_bitwidth_3_convert`: "Activation bitwidth must be in (1, 2, 4). Receives bitwidth 3 in layer 're_lu'."
model toy {
    input([28, 28, 1], scale: 255)
    quantize(weights: 4, activations: 3, input_weights: 8)
    conv2d(8, 3)
    max_pool(2)
    batch_norm()
    relu()
    flatten()
    dense(10)
    softmax()
}
