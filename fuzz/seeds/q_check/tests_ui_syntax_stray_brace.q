// one closing brace too many after a model
model m {
    input([28, 28, 1])
    flatten()
}
}
