// a model without an input statement
model m {
    conv2d(8, 3)
    flatten()
    dense(10)
}
