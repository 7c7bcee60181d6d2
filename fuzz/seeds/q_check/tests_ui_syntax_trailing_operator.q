// arithmetic that ends with an operator
model m {
    input([28, 28, 1], scale: 255 /)
    flatten()
}
