//@ cmd: check --message-format short {file}
// `--message-format short` prints one line per diagnostic, warnings included
quantizer unused = max(bits: 4)
model m {
    input([28, 28, 1])
    conv2d(8, 3, paddin: same)
    flatten()
    dense(10)
}
