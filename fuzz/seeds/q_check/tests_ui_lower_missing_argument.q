// required arguments left out: conv2d without filters and kernel, dense and dropout empty
model m {
    input([28, 28, 1])
    conv2d()
    separable_conv2d(16)
    flatten()
    dropout()
    dense()
}
