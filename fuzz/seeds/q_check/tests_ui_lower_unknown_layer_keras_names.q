// Keras class and automatic names used as calls instead of the `.q` layer names
model m {
    input([28, 28, 1])
    conv2d(8, 3)
    max_pooling2d(2)
    batch_normalization()
    re_lu()
    flatten()
    dense(10)
}
