//@ cmd: compile {file} --weights {dir}/engine_refusals.npz -o {tmp}/refusals.nsoc
// layers the akida engine refuses to build: an even kernel, strides beyond the kernel of a
// convolution (an input convolution may have them), a max pooling striding past its window
model refusals {
    input([16, 16, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv0 = conv2d(8, 3, strides: 5, padding: same)
    relu()
    conv1 = conv2d(8, 2, padding: same)
    relu()
    conv2 = conv2d(8, 1, strides: 2, padding: same)
    relu()
    sep = separable_conv2d(8, 3, strides: [1, 4], padding: same)
    pool = max_pool(2, strides: 3, padding: same)
    relu()
}
