// a rectangular kernel wider than the input, while `same` padding fits
model m {
    input([28, 28, 1])
    conv2d(8, [1, 30], padding: same)
    conv2d(8, [1, 30])
    flatten()
    dense(10)
}
