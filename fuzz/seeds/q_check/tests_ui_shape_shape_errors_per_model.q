// shape errors in two models: each model reports its first one only
model a {
    input([28, 28, 1])
    flatten()
    max_pool(2)
    conv2d(8, 3)
}
model b {
    input([2, 2, 1])
    conv2d(8, 3)
    conv2d(8, 3)
}
