// quantized activations with 0 or negative bits
model m {
    input([28, 28, 1])
    conv2d(8, 3)
    quantized_relu(bits: 0, max_value: 6)
    conv2d(8, 3)
    discrete_relu(-1)
    flatten()
    dense(10)
}
