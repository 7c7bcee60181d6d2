// pooling and global pooling on a vector input
model a {
    input([784])
    max_pool(2)
    dense(10)
}
model b {
    input([784])
    dense(128)
    global_avg_pool()
}
