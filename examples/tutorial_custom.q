// tutorial_custom.q — the CNN2SNN advanced tutorial's toy model with its custom quantizer:
// the tutorial subclasses LinearWeightQuantizer with scale_factor(w) = kmax / (2 * std(w)),
// which keeps the bulk of a weight distribution with outliers on more levels than `max` does.
//
// examples/tutorial_custom.npz was trained by qnnc, in float and then fine-tuned quantized:
//   qnnc train examples/tutorial_custom.q --float --data examples/data/mnist --epochs 5 --lr 0.003 --schedule cosine -o tutorial_custom_float.npz
//   qnnc train examples/tutorial_custom.q --weights tutorial_custom_float.npz --data examples/data/mnist --epochs 2 --lr 0.0005 --schedule cosine -o examples/tutorial_custom.npz
// Quantized executor: 98.21 %; integer program (qnnc compile, qnnc run --data examples/data/mnist): 98.21 % on the MNIST test set
quantizer q8 = max(bits: 8)
quantizer custom_std = linear(bits: 4, scale: kmax / (2 * std(w)))

model tutorial_custom {
    input([28, 28, 1], scale: 255)
    conv2d = conv2d(8, 3, quantizer: q8)
    max_pooling2d = max_pool(2)
    batch_normalization = batch_norm()
    re_lu = quantized_relu(bits: 4, max_value: 6)
    flatten = flatten()
    dense = dense(10, quantizer: custom_std)
    softmax = softmax()
}
