// constant arithmetic whose result overflows to infinity
model m {
    input([28, 28, 1], scale: 1e300 * 1e300)
    flatten()
    dense(10)
}
