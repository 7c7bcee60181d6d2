// a layer call whose closing parenthesis is missing at the end of the line
model m {
    input([28, 28, 1])
    conv2d(8, 3
    flatten()
}
