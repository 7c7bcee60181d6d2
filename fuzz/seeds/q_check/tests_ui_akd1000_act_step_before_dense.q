//@ cmd: check --target akd1000 {file} --weights {dir}/act_step_before_dense.npz
// errors.json `act_step_equalization_before_dense`: the act_step of `c2` exceeds the 16-bit register
// (ReLU max 0.1 before it, batch-norm gammas 1e-2); cnn2snn's equalization then fails on the
// flattened dense layer, qnnc's equalizes it (a warning) and the model maps
model m {
    input([28, 28, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    c1 = conv2d(8, 3)
    max_pool(2)
    relu(max_value: 0.1)
    c2 = conv2d(16, 3, padding: same)
    b2 = batch_norm()
    relu()
    flatten()
    dense(10)
}
