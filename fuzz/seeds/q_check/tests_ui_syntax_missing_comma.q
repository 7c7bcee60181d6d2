// two positional arguments without a comma between them
model m {
    input([28, 28, 1])
    conv2d(8 3)
}
