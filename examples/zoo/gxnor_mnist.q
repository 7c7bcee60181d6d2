// gxnor_mnist.q — BrainChip's GXNOR network for MNIST, Akida 1.0 definition.
//
// Reproduces akida_models' `gxnor_mnist()` (akida_models/mnist/model_gxnor.py) built under
// cnn2snn's `set_akida_version(AkidaVersion.v1)`: ReLU(6) after the convolutions, ReLU(2)
// after `fc_1`, global average pooling before the batch norm; `Rescaling(1/255)`.
// Keras: 167,346 parameters (python/zoo_check.py).
//
// Quantization: the zoo's Akida 1.0 model `gxnor_mnist_iq2_wq2_aq1.h5` (the default bit-width
// 2 of `gxnor_mnist_pretrained` for Akida 1.0): `cnn2snn.quantize(model, 2, 1, 2)`.
//
// Layer names are Keras' with every `/` replaced by `_` (Keras `block_1/conv_1/BN` is
// `block_1_conv_1_BN`).
//
// examples/gxnor_mnist.q is the same network with other layer names and uncapped ReLUs (its
// trained weights, examples/gxnor_mnist.npz, are for that file): this file is the zoo's
// definition exactly.
model gxnor_mnist {
    input([28, 28, 1], scale: 255)
    quantize(weights: 2, activations: 1, input_weights: 2)

    block_1_conv_1 = conv2d(32, 5, padding: same)
    block_1_conv_1_maxpool = max_pool(2, padding: same)
    block_1_conv_1_BN = batch_norm()
    block_1_conv_1_relu = relu(max_value: 6)

    block_2_conv_1 = conv2d(64, 3, strides: 2, padding: same)
    block_2_conv_1_BN = batch_norm()
    block_2_conv_1_relu = relu(max_value: 6)

    block_3_conv_1 = conv2d(128, 3, padding: same)
    block_3_conv_1_global_avg = global_avg_pool()
    block_3_conv_1_BN = batch_norm()
    block_3_conv_1_relu = relu(max_value: 6)

    fc_1 = dense(512)
    fc_1_BN = batch_norm()
    fc_1_relu = relu(max_value: 2)

    predictions = dense(10)
    predictions_BN = batch_norm()
}
