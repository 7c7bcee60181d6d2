// two inputs in one model
model m {
    input([28, 28, 1])
    input([32, 32, 3])
    flatten()
    dense(10)
}
