// a file saved with a UTF-8 byte-order mark before its first line
model m {
    input([28, 28, 1])
    flatten()
    dense(10)
}
