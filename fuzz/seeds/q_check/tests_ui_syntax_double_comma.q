// two commas in a row in an argument list
model m {
    input([28, 28, 1])
    conv2d(8,, 3)
}
