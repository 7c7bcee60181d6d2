// a layer the language does not have: the help lists the layers
model m {
    input([28, 28, 1])
    lstm(32)
    dense(10)
}
