// two layers given the same explicit name
model m {
    input([28, 28, 1])
    conv = conv2d(8, 3)
    conv = conv2d(16, 3)
    flatten()
    dense(10)
}
