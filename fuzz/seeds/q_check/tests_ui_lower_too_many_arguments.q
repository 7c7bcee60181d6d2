// more positional arguments than a layer takes
model m {
    input([28, 28, 1], 255)
    conv2d(8, 3, 2, same)
    flatten()
    dense(10, 20)
    softmax(1)
}
