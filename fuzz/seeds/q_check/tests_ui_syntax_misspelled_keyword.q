// the `model` keyword misspelled
modle m {
    input([28, 28, 1])
    flatten()
}
