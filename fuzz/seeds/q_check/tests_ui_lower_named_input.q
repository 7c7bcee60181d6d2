// the input given a name like a layer
model m {
    x = input([28, 28, 1])
    flatten()
    dense(10)
}
