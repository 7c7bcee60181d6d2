// padding words that are not `valid` or `same`, with and without a suggestion
model m {
    input([28, 28, 1])
    conv2d(8, 3, padding: Same)
    conv2d(8, 3, padding: causal)
    max_pool(2, padding: vaild)
    flatten()
    dense(10)
}
