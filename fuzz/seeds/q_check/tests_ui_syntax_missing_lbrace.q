// a model whose body does not start with `{`
model m
    input([28, 28, 1])
    flatten()
}
