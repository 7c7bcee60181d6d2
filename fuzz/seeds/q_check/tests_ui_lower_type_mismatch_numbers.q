// values of the wrong kind where numbers and integers are expected
model m {
    input([28, 28, 1], scale: [255], offset: true)
    conv2d(8.5, [3, 3, 3])
    conv2d(eight, 3, strides: 1.5)
    flatten()
    dropout(half)
    dense(10, use_bias: 1)
}
