//@ cmd: check --message-format short {file}
// a syntax error in `--message-format short`: one line with file, line and column
model m {
    input([28, 28, 1])
    dense(10 quantizer: max(bits: 4))
}
