//@ cmd: check --target akd1000 {file} --weights {dir}/toy.npz
// errors.json `toy_q_w8_a4_iw4_map_AKD1000`: "Cannot map layer 'dense'. Weight bits should be between 1
// and 4 inclusive." — quantize(weights: 8, activations: 4, input_weights: 4)
model toy {
    input([28, 28, 1], scale: 255)
    quantize(weights: 8, activations: 4, input_weights: 4)
    conv2d(8, 3)
    max_pool(2)
    batch_norm()
    relu()
    flatten()
    dense(10)
    softmax()
}
