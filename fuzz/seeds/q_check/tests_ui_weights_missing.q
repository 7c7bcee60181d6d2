//@ cmd: check {file} --weights {dir}/missing.npz
// an array the model needs is missing
model small {
    input([8, 8, 1], scale: 255)
    conv = conv2d(4, 3)
    bn = batch_norm()
    relu()
    flatten()
    dense = dense(3)
}
