// an absurd number of filters, beyond the largest dimension
model m {
    input([28, 28, 1])
    conv2d(100000000, 3)
    flatten()
    dense(10)
}
