// numbers outside what each argument accepts
model m {
    input([28, 0, 1])
    conv2d(0, 3, strides: 0)
    batch_norm(epsilon: 0, momentum: 2)
    relu(max_value: -1)
    max_pool([2, -2])
    flatten()
    dropout(1.5)
    dense(-10)
}
