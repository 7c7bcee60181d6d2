// several dense layers each under the parameter limit, together above it
model m {
    input([8192])
    dense(16384)
    dense(8192)
    dense(16384)
    dense(8192)
    dense(10)
}
