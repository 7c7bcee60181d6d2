// a pool window larger than its input in one model, and the next model still checked
model a {
    input([1, 1, 3])
    avg_pool(2)
    flatten()
}
model b {
    input([28, 28, 1])
    separable_conv2d(8, 29)
    flatten()
}
