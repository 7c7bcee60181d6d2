// a positional argument after a keyword argument
model m {
    input([28, 28, 1])
    conv2d(padding: same, 8, 3)
    flatten()
    dense(10)
}
