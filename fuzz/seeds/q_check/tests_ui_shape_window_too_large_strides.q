// strided valid convolutions shrink a small input until a pooling window no longer fits
model m {
    input([9, 9, 1])
    conv2d(8, 3, strides: 2)
    conv2d(8, 3, strides: 2)
    max_pool(2)
    flatten()
    dense(10)
}
