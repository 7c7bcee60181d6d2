// a Python tuple `(3, 3)` where the language writes pairs as lists `[3, 3]`
model m {
    input([28, 28, 1])
    conv2d(8, kernel_size: (3, 3))
    flatten()
    dense(10)
}
