//@ cmd: quantize {file} --weights {dir}/gamma_clamped.npz
// `gamma_min` raises tiny gammas before folding (akida_models' gamma constraint), reported as advice
model toy {
    input([28, 28, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv = conv2d(8, 3)
    bn = batch_norm(gamma_min: 0.01)
    relu()
    flatten()
    dense(10)
}
