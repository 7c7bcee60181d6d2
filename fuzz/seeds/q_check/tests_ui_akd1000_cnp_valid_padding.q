//@ cmd: check --target akd1000 {file} --weights {dir}/cnp_valid_padding.npz
// errors.json `cnp_valid_padding_map_AKD1000`: "Cannot map layer 'conv2d_1'. Only padding same is
// supported." — a second convolution with `valid` padding
model m {
    input([28, 28, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv2d(8, 3)
    relu()
    conv2d(8, 3)
    relu()
    flatten()
    dense(10)
}
