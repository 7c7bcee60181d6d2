// a valid-padding kernel larger than its input after two poolings
model m {
    input([12, 12, 1])
    conv2d(8, 3)
    max_pool(2)
    max_pool(2)
    conv2d(16, 5)
    flatten()
    dense(10)
}
