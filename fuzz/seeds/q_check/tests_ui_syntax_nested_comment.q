// block comments do not nest: the first `*/` closes the comment and the rest is text
model m {
    input([28, 28, 1])
    /* outer /* inner */ still comment? */
    flatten()
}
