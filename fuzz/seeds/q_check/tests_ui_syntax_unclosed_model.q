// a model whose closing brace is missing at the end of the file
model m {
    input([28, 28, 1])
    flatten()
    dense(10)
