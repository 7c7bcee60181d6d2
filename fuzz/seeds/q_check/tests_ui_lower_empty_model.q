// a model with an input but no layer
model m {
    input([28, 28, 1])
}
