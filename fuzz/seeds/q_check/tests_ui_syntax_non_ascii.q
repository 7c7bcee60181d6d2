// a non-ASCII character in a shape: the label must sit on the whole character
model m {
    input([28 × 28, 1])
    flatten()
}
