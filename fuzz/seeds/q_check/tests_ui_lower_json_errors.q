//@ cmd: --message-format json check {file}
// json diagnostics go to stdout, one object per line
model m {
    input([28, 28, 1])
    conv2d(8, 3, paddin: same)
    flatten()
    dense(10)
}
