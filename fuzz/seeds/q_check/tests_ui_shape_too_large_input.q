// an input tensor of 30 billion elements
model m {
    input([100000, 100000, 3])
    flatten()
    dense(10)
}
