// a keyword argument with nothing after the colon
model m {
    input([28, 28, 1])
    conv2d(8, 3, padding: )
}
