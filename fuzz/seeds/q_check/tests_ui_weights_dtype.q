//@ cmd: check {file} --weights {dir}/dtype.npz
// an array stored as float64
model small {
    input([8, 8, 1], scale: 255)
    conv = conv2d(4, 3)
    bn = batch_norm()
    relu()
    flatten()
    dense = dense(3)
}
