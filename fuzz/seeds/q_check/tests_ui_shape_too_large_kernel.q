// a dense kernel with more parameters than the limit, while every tensor is small enough
model m {
    input([28, 28, 8])
    flatten()
    dense(100000)
    dense(10)
}
