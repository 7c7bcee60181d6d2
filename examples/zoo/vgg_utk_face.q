// vgg_utk_face.q — BrainChip's VGG-like age-regression network (UTKFace) for Akida 1.0.
//
// Reproduces akida_models' `vgg_utk_face(input_shape=(32, 32, 3), input_scaling=(127, -1))`
// (akida_models/utk_face/model_vgg.py) built under cnn2snn's
// `set_akida_version(AkidaVersion.v1)`: ReLU(6), global average pooling before the batch norm.
// Keras: 120,561 parameters (python/zoo_check.py).
//
// Quantization: the zoo's Akida 1.0 model `vgg_utk_face_iq8_wq2_aq2.h5` (the default bit-width
// 2 of `vgg_utk_face_pretrained` for Akida 1.0): `cnn2snn.quantize(model, 2, 2, 8)`.
//
// Layer names are Keras' with every `/` replaced by `_` (Keras `conv_0/BN` is `conv_0_BN`).
// The Keras `Rescaling(1/127, -1)` layer (x / 127 − 1) is `input(scale: 127, offset: 127)`:
// x_u8 = 127 · x + 127.
model vgg_utk_face {
    input([32, 32, 3], scale: 127, offset: 127)
    quantize(weights: 2, activations: 2, input_weights: 8)

    conv_0 = conv2d(32, 3, use_bias: false)
    conv_0_BN = batch_norm()
    conv_0_relu = relu(max_value: 6)

    conv_1 = conv2d(32, 3, padding: same, use_bias: false)
    conv_1_maxpool = max_pool(2, padding: same)
    conv_1_BN = batch_norm()
    conv_1_relu = relu(max_value: 6)
    dropout_3 = dropout(0.3)

    conv_2 = conv2d(64, 3, padding: same, use_bias: false)
    conv_2_BN = batch_norm()
    conv_2_relu = relu(max_value: 6)

    conv_3 = conv2d(64, 3, padding: same, use_bias: false)
    conv_3_maxpool = max_pool(2, padding: same)
    conv_3_BN = batch_norm()
    conv_3_relu = relu(max_value: 6)
    dropout_4 = dropout(0.3)

    conv_4 = conv2d(84, 3, padding: same, use_bias: false)
    conv_4_global_avg = global_avg_pool()
    conv_4_BN = batch_norm()
    conv_4_relu = relu(max_value: 6)
    dropout_5 = dropout(0.3)

    dense_1 = dense(64, use_bias: false)
    dense_1_BN = batch_norm()
    dense_1_relu = relu(max_value: 6)

    dense_2 = dense(1)
}
