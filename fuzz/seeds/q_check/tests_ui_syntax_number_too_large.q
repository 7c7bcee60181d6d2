// a number literal beyond the range of a 64-bit float
model m {
    input([28, 28, 1], scale: 1e400)
    flatten()
}
