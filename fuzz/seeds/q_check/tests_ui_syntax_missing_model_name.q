// a model without a name
model {
    input([28, 28, 1])
    flatten()
}
