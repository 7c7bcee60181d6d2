// keyword arguments a layer does not take, with and without a suggestion
model m {
    input([28, 28, 1], scal: 255)
    conv2d(8, 3, stride: 2)
    max_pool(2, pading: same)
    flatten(data_format: channels_last)
    dense(10, activation: relu)
}
