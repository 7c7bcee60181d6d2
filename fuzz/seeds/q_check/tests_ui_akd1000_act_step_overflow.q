//@ cmd: check --target akd1000 {file} --weights {dir}/act_step_before_dense.npz --no-act-step-equalization
// without cnn2snn 2.5's act_step equalization (CNN2SNN 2.3.7), the act_step of `c2` overflows the register
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
