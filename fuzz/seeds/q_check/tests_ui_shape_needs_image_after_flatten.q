// a convolution after `flatten()`
model m {
    input([28, 28, 1])
    conv2d(8, 3)
    flatten()
    conv2d(16, 3)
    dense(10)
}
