// an argument error stops shape inference: the too-large window after it is not reported
model m {
    input([4, 4, 1])
    conv2d(8, 3, padding: smae)
    conv2d(8, 5)
    flatten()
    dense(10)
}
