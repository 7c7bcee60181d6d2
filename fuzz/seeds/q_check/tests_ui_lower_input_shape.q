// input shapes of the wrong rank in three models
model a {
    input([28, 28])
    flatten()
}
model b {
    input([])
    flatten()
}
model c {
    input([1, 28, 28, 1])
    flatten()
}
