//@ cmd: check --target akd1000 {file}
// one model breaking many AKD1000 rules at once: all are reported in one run
model many {
    input([300, 300, 4], scale: 255)
    quantize(weights: 8, activations: 4, input_weights: 8)
    conv2d(8, 4, strides: 2)
    relu()
    conv2d(16, 5, strides: 2, padding: same)
    max_pool(3, strides: 3, padding: same)
    relu()
    separable_conv2d(32, 3, padding: same)
    global_avg_pool()
    relu()
    dense(10)
}
