// a convolution whose output tensor has more elements than the limit
model m {
    input([28, 28, 1])
    conv2d(1000000, 3)
    flatten()
    dense(10)
}
