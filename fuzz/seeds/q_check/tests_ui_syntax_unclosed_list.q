// a list whose closing bracket is missing
model m {
    input([28, 28, 1, scale: 255)
    flatten()
}
