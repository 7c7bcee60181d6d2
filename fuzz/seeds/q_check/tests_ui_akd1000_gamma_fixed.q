//@ cmd: check --target akd1000 {file} --weights {dir}/gamma_tiny.npz --gamma-min 0.01
// the fix of `gamma_tiny.q`: with the gamma constraint (gamma >= 0.01) the model maps
model gamma_model {
    input([28, 28, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv1 = conv2d(8, 3)
    pool1 = max_pool(2)
    bn1 = batch_norm()
    relu1 = relu(max_value: 1.0)
    conv2 = conv2d(16, 3, padding: same)
    bn2 = batch_norm()
    relu2 = relu()
    conv3 = conv2d(16, 3, padding: same)
    relu3 = relu()
    flatten = flatten()
    dense = dense(10)
}
