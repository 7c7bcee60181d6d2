// toy.q — the CNN2SNN advanced tutorial's toy model, quantized by hand
//
// examples/toy.npz was trained by qnnc, in float and then fine-tuned quantized:
//   qnnc train examples/toy.q --float --data examples/data/mnist --epochs 5 --lr 0.003 --schedule cosine -o toy_float.npz
//   qnnc train examples/toy.q --weights toy_float.npz --data examples/data/mnist --epochs 2 --lr 0.0005 --schedule cosine -o examples/toy.npz
// Quantized executor: 98.38 %; integer program (qnnc compile, qnnc run --data examples/data/mnist): 98.40 % on the MNIST test set
quantizer q8 = max(bits: 8)
quantizer q4 = max(bits: 4)

model toy {
    input([28, 28, 1], scale: 255)
    conv2d_3 = conv2d(8, 3, quantizer: q8)
    max_pooling2d = max_pool(2)
    batch_normalization_3 = batch_norm()
    re_lu_3 = quantized_relu(bits: 4, max_value: 6)
    flatten_2 = flatten()
    dense_2 = dense(10, quantizer: q4)
    softmax = softmax()
}
