// akidanet_025_160.q — AkidaNet, width 0.25, 160×160 RGB input, ImageNet (1000 classes):
// BrainChip's Akida 1.0 definition.
//
// Reproduces akida_models' `akidanet_imagenet(input_shape=(160, 160, 3), alpha=0.25,
// classes=1000)` (akida_models/imagenet/model_akidanet.py; default input_scaling=(128, -1))
// built under cnn2snn's `set_akida_version(AkidaVersion.v1)`: four standard convolutions, then
// fused SeparableConv2D, ReLU(6), global average pooling before the batch norm, a Dense
// classifier with bias. Keras: 483,392 parameters (python/zoo_check.py). Filters are Keras'
// `int(n * alpha)`, written out (the language has no constants); this file was generated.
//
// Quantization: the zoo's Akida 1.0 ImageNet models are `..._iq8_wq4_aq4.h5`
// (`akidanet_imagenet_224_alpha_25_iq8_wq4_aq4.h5` for this width at 224; there is no
// pretrained 160 variant for Akida 1.0): `cnn2snn.quantize(model, 4, 4, 8)`.
//
// Layer names are Keras' with every `/` replaced by `_` (Keras `conv_0/BN` is `conv_0_BN`).
// The Keras `Rescaling(1/128, -1)` layer (x / 128 − 1) is `input(scale: 128, offset: 128)`:
// x_u8 = 128 · x + 128. akida_models' L2 weight regularizer (4e-5 on the convolutions and every
// pointwise kernel) is a training option with no `.q` equivalent; it changes no shape or count.
model akidanet_025_160 {
    input([160, 160, 3], scale: 128, offset: 128)
    quantize(weights: 4, activations: 4, input_weights: 8)

    conv_0 = conv2d(8, 3, strides: 2, padding: same, use_bias: false)
    conv_0_BN = batch_norm()
    conv_0_relu = relu(max_value: 6)

    conv_1 = conv2d(16, 3, padding: same, use_bias: false)
    conv_1_BN = batch_norm()
    conv_1_relu = relu(max_value: 6)

    conv_2 = conv2d(32, 3, strides: 2, padding: same, use_bias: false)
    conv_2_BN = batch_norm()
    conv_2_relu = relu(max_value: 6)

    conv_3 = conv2d(32, 3, padding: same, use_bias: false)
    conv_3_BN = batch_norm()
    conv_3_relu = relu(max_value: 6)

    separable_4 = separable_conv2d(64, 3, strides: 2, padding: same, use_bias: false)
    separable_4_BN = batch_norm()
    separable_4_relu = relu(max_value: 6)

    separable_5 = separable_conv2d(64, 3, padding: same, use_bias: false)
    separable_5_BN = batch_norm()
    separable_5_relu = relu(max_value: 6)

    separable_6 = separable_conv2d(128, 3, strides: 2, padding: same, use_bias: false)
    separable_6_BN = batch_norm()
    separable_6_relu = relu(max_value: 6)

    separable_7 = separable_conv2d(128, 3, padding: same, use_bias: false)
    separable_7_BN = batch_norm()
    separable_7_relu = relu(max_value: 6)

    separable_8 = separable_conv2d(128, 3, padding: same, use_bias: false)
    separable_8_BN = batch_norm()
    separable_8_relu = relu(max_value: 6)

    separable_9 = separable_conv2d(128, 3, padding: same, use_bias: false)
    separable_9_BN = batch_norm()
    separable_9_relu = relu(max_value: 6)

    separable_10 = separable_conv2d(128, 3, padding: same, use_bias: false)
    separable_10_BN = batch_norm()
    separable_10_relu = relu(max_value: 6)

    separable_11 = separable_conv2d(128, 3, padding: same, use_bias: false)
    separable_11_BN = batch_norm()
    separable_11_relu = relu(max_value: 6)

    separable_12 = separable_conv2d(256, 3, strides: 2, padding: same, use_bias: false)
    separable_12_BN = batch_norm()
    separable_12_relu = relu(max_value: 6)

    separable_13 = separable_conv2d(256, 3, padding: same, use_bias: false)
    separable_13_global_avg = global_avg_pool()
    separable_13_BN = batch_norm()
    separable_13_relu = relu(max_value: 6)

    dropout = dropout(0.001)
    classifier = dense(1000)
}
