// a block comment that is never closed
model m {
    input([28, 28, 1])
    /* conv2d(8, 3)
    flatten()
    dense(10)
}
