// a statement ended with `;` as in C or Python
model m {
    input([28, 28, 1]);
    flatten()
}
