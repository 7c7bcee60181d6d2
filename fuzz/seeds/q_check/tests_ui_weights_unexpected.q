//@ cmd: check {file} --weights {dir}/unexpected.npz
// an array that belongs to no layer (a warning only)
model small {
    input([8, 8, 1], scale: 255)
    conv = conv2d(4, 3)
    bn = batch_norm()
    relu()
    flatten()
    dense = dense(3)
}
