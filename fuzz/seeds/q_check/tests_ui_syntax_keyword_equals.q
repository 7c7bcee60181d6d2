// a keyword argument written with `=` (Python style) instead of `:`
model m {
    input([28, 28, 1])
    conv2d(8, 3, padding=same)
}
