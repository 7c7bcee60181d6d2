//@ cmd: check --message-format json {file}
// `--message-format json` prints diagnostics on stdout: a warning-only file leaves stderr empty
quantizer unused = max(bits: 4)
model m {
    input([28, 28, 1])
    conv2d(8, 3)
    flatten()
    dense(10)
}
