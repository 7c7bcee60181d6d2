// the input declared after a layer
model m {
    quantize(weights: 4, activations: 4)
    conv2d(8, 3)
    input([28, 28, 1])
    flatten()
    dense(10)
}
