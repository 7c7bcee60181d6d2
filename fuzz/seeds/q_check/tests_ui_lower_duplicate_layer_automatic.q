// an explicit name colliding with Keras' automatic names (`conv2d`, `conv2d_1`, `dense`)
model m {
    input([28, 28, 1])
    conv2d(8, 3)
    conv2d_1 = conv2d(8, 3)
    conv2d(16, 3)
    flatten()
    dense = dense(32)
    dense(10)
}
