//! NSoC program, `.nsoc` format and integer simulator: bit-exactness against BrainChip's akida
//! engine (reference dumps in `tests/data/*_akida.*`), against an independent naive oracle, and
//! robustness of the file reader.

use ndarray::{Array4, ArrayD, Ix4};
use ndarray_npy::NpzReader;
use proptest::prelude::*;
use qnnc::backend::nsoc::format::{self, FormatError, HEADER_LEN};
use qnnc::backend::nsoc::geometry::Axis;
use qnnc::backend::nsoc::sim::activation::{activation_level, ceil_div, dequantize, step_units};
use qnnc::backend::nsoc::synth::{LayerSpec, Recipe};
use qnnc::backend::nsoc::{
    Dims, Layer, LayerKind, LayerOutput, Padding, Pooling, Program, ProgramErrorKind, SimError,
    Simulator, SourceHash, Target,
};
use qnnc::target::bridge;
use std::fs::File;
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

const TOY_VARIANTS: [&str; 5] = [
    "toy_q_w8_a4_iw8",
    "toy_q_w4_a4_iw8",
    "toy_q_w2_a2_iw8",
    "toy_q_w4_a1_iw8",
    "toy_q_w8_a4_iw4",
];
const SEPARABLE: &str = "sep_q_w4_a4_iw8";

/// A reference akida dump: the program rebuilt from it, and its arrays.
struct Reference {
    program: Program,
    npz: NpzReader<File>,
}

impl Reference {
    fn load(model: &str) -> Reference {
        let file = format!("{model}_akida.npz");
        let index: serde_json::Value =
            serde_json::from_reader(File::open(data_dir().join("index.json")).unwrap()).unwrap();
        let meta = &index["files"][&file]["akida"];
        let mut npz = NpzReader::new(File::open(data_dir().join(&file)).unwrap()).unwrap();
        let dims = |v: &serde_json::Value| {
            let d: Vec<u32> = serde_json::from_value(v.clone()).unwrap();
            Dims::new(d[0], d[1], d[2])
        };
        let mut layers = Vec::new();
        for l in meta["layers"].as_array().unwrap() {
            let p = &l["parameters"];
            let int = |key: &str| p[key].as_i64().unwrap();
            let prefix = format!("L{}_{}__", l["index"], l["name"].as_str().unwrap());
            let kind = match l["layer_type"].as_str().unwrap() {
                "LayerType.InputConvolutional" => LayerKind::InputConvolutional,
                "LayerType.Convolutional" => LayerKind::Convolutional,
                "LayerType.SeparableConvolutional" => LayerKind::SeparableConvolutional,
                "LayerType.FullyConnected" => LayerKind::FullyConnected,
                other => panic!("unexpected layer type {other}"),
            };
            let dense = kind == LayerKind::FullyConnected;
            // Akida's x is the Keras height (docs/conversion.md §7.2): width/x fields map to
            // our first axis.
            let pair = |x: &str, y: &str| [int(x) as u32, int(y) as u32];
            let pooling = match if dense { 0 } else { int("pool_type") } {
                0 => Pooling::None,
                1 => Pooling::Max {
                    size: pair("pooling_width", "pooling_height"),
                    stride: pair("pooling_stride_x", "pooling_stride_y"),
                },
                2 => Pooling::GlobalAverage,
                other => panic!("unexpected pool type {other}"),
            };
            let read_i8 = |npz: &mut NpzReader<File>, var: &str| -> Vec<i8> {
                let a: ArrayD<i8> = npz.by_name(&format!("{prefix}{var}")).unwrap();
                a.iter().copied().collect()
            };
            let weights = read_i8(&mut npz, "weights");
            let weights_pw = if kind == LayerKind::SeparableConvolutional {
                read_i8(&mut npz, "weights_pw")
            } else {
                Vec::new()
            };
            let thresholds: ArrayD<i32> = npz.by_name(&format!("{prefix}threshold")).unwrap();
            let act_steps: ArrayD<f32> = npz.by_name(&format!("{prefix}act_step")).unwrap();
            layers.push(Layer {
                name: l["name"].as_str().unwrap().to_owned(),
                kind,
                input_dims: dims(&l["input_dims"]),
                output_dims: dims(&l["output_dims"]),
                kernel: if dense {
                    [1, 1]
                } else {
                    pair("kernel_width", "kernel_height")
                },
                strides: if dense {
                    [1, 1]
                } else {
                    pair("stride_x", "stride_y")
                },
                padding: if !dense && int("padding") == 1 {
                    Padding::Same
                } else {
                    Padding::Valid
                },
                padding_value: if kind == LayerKind::InputConvolutional {
                    int("padding_value") as u8
                } else {
                    0
                },
                pooling,
                weights_bits: int("weights_bits") as u8,
                act_bits: int("act_bits") as u8,
                activation: int("activation") == 1,
                weights,
                weights_pw,
                thresholds: thresholds.iter().copied().collect(),
                act_steps: act_steps.iter().copied().collect(),
            });
        }
        let program = Program {
            model_name: model.to_owned(),
            source_sha256: SourceHash::of(model.as_bytes()),
            target: Target::Software,
            input: dims(&meta["input_shape"]),
            layers,
        };
        program.validate().unwrap();
        Reference { program, npz }
    }

    fn array<T: ndarray_npy::ReadableElement>(&mut self, key: &str) -> Array4<T> {
        self.npz.by_name::<_, Ix4>(key).unwrap()
    }
}

/// An independent, literal implementation of docs/conversion.md §8 (i64, stored kernels used as
/// they are).
mod oracle {
    use super::*;

    type Map = Vec<i64>; // (H, W, C) row-major

    fn axis(input: u32, window: u32, stride: u32, padding: Padding) -> (usize, i64) {
        let (i, k, s) = (input as i64, window as i64, stride as i64);
        match padding {
            Padding::Valid => (((i - k) / s + 1) as usize, 0),
            Padding::Same => {
                let out = (i + s - 1) / s;
                let total = ((out - 1) * s + k - i).max(0);
                (out as usize, total / 2)
            }
        }
    }

    /// Potentials of a convolution; `weight(i, j, c, f)` indexes the stored kernel and `flip`
    /// reads it as a true convolution.
    fn convolve(
        layer: &Layer,
        x: &Map,
        pad_value: i64,
        flip: bool,
        depthwise: bool,
    ) -> (Dims, Map) {
        let d = layer.input_dims;
        let [kh, kw] = layer.kernel;
        let (oh, pt) = axis(d.height, kh, layer.strides[0], layer.padding);
        let (ow, pl) = axis(d.width, kw, layer.strides[1], layer.padding);
        let c_in = d.channels as usize;
        let f_out = if depthwise {
            c_in
        } else {
            layer.filters() as usize
        };
        let mut out = vec![0i64; oh * ow * f_out];
        for y in 0..oh {
            for x0 in 0..ow {
                for f in 0..f_out {
                    let mut sum = 0i64;
                    for i in 0..kh as i64 {
                        for j in 0..kw as i64 {
                            let iy = y as i64 * layer.strides[0] as i64 - pt + i;
                            let ix = x0 as i64 * layer.strides[1] as i64 - pl + j;
                            let (wi, wj) = if flip {
                                (kh as i64 - 1 - i, kw as i64 - 1 - j)
                            } else {
                                (i, j)
                            };
                            let tap = (wi * kw as i64 + wj) as usize;
                            let inside =
                                iy >= 0 && ix >= 0 && iy < d.height as i64 && ix < d.width as i64;
                            let channels: Vec<usize> = if depthwise {
                                vec![f]
                            } else {
                                (0..c_in).collect()
                            };
                            for c in channels {
                                let v = if inside {
                                    x[(iy as usize * d.width as usize + ix as usize) * c_in + c]
                                } else {
                                    pad_value
                                };
                                let w = if depthwise {
                                    layer.weights[tap * c_in + c]
                                } else {
                                    layer.weights[(tap * c_in + c) * f_out + f]
                                };
                                sum += v * i64::from(w);
                            }
                        }
                    }
                    // The engine sums in 32 bits, wrapping.
                    out[(y * ow + x0) * f_out + f] = wrap(sum);
                }
            }
        }
        (Dims::new(oh as u32, ow as u32, f_out as u32), out)
    }

    fn layer_potentials(layer: &Layer, x: &Map) -> (Dims, Map) {
        let f = layer.filters() as usize;
        let (dims, p) = match layer.kind {
            LayerKind::InputConvolutional => {
                convolve(layer, x, i64::from(layer.padding_value), false, false)
            }
            LayerKind::Convolutional => convolve(layer, x, 0, true, false),
            LayerKind::SeparableConvolutional => {
                let (dims, dw) = convolve(layer, x, 0, true, true);
                let c = dims.channels as usize;
                let mut out = vec![0i64; dims.pixels() as usize * f];
                for p in 0..dims.pixels() as usize {
                    for o in 0..f {
                        out[p * f + o] = wrap(
                            (0..c)
                                .map(|ch| dw[p * c + ch] * i64::from(layer.weights_pw[ch * f + o]))
                                .sum(),
                        );
                    }
                }
                (Dims::new(dims.height, dims.width, f as u32), out)
            }
            LayerKind::FullyConnected => {
                let d = layer.input_dims;
                let (h, w, c) = (d.height as usize, d.width as usize, d.channels as usize);
                let mut out = vec![0i64; f];
                for (n, o) in out.iter_mut().enumerate() {
                    for y in 0..h {
                        for x0 in 0..w {
                            for ch in 0..c {
                                let row = ch * h * w + x0 * h + y; // Akida c·Y·X + y·X + x
                                *o += x[(y * w + x0) * c + ch]
                                    * i64::from(layer.weights[row * f + n]);
                            }
                        }
                    }
                }
                // Wrapped to 32 bits, then saturated to 20.
                (
                    Dims::new(1, 1, f as u32),
                    out.into_iter().map(|v| saturate(wrap(v))).collect(),
                )
            }
        };
        match layer.pooling {
            Pooling::None => (dims, p),
            Pooling::GlobalAverage => {
                // A running sum over the pixels in row-major order, saturated at every step.
                let mut out = vec![0i64; f];
                for (i, v) in p.iter().enumerate() {
                    out[i % f] = saturate(out[i % f] + v);
                }
                (Dims::new(1, 1, f as u32), out)
            }
            Pooling::Max { size, stride } => {
                let (oh, pt) = axis(dims.height, size[0], stride[0], layer.padding);
                let (ow, pl) = axis(dims.width, size[1], stride[1], layer.padding);
                let mut out = vec![i64::MIN; oh * ow * f];
                for y in 0..oh {
                    for x0 in 0..ow {
                        for i in 0..size[0] as i64 {
                            for j in 0..size[1] as i64 {
                                let iy = (y as i64) * stride[0] as i64 - pt + i;
                                let ix = (x0 as i64) * stride[1] as i64 - pl + j;
                                if iy < 0
                                    || ix < 0
                                    || iy >= dims.height as i64
                                    || ix >= dims.width as i64
                                {
                                    continue;
                                }
                                for o in 0..f {
                                    let v = p
                                        [(iy as usize * dims.width as usize + ix as usize) * f + o];
                                    let slot = &mut out[(y * ow + x0) * f + o];
                                    *slot = (*slot).max(v);
                                }
                            }
                        }
                    }
                }
                // A 1×1 pool is no pooling; any other saturates to 20 bits.
                if size != [1, 1] {
                    out.iter_mut().for_each(|v| *v = saturate(*v));
                }
                (Dims::new(oh as u32, ow as u32, f as u32), out)
            }
        }
    }

    fn wrap(v: i64) -> i64 {
        i64::from(v as i32)
    }

    fn saturate(v: i64) -> i64 {
        v.clamp(-(1 << 19), (1 << 19) - 1)
    }

    /// Every layer's output for one image: levels, or potentials for a last layer without
    /// activation.
    pub fn run(program: &Program, image: &[u8]) -> Vec<Vec<i64>> {
        let mut x: Map = image.iter().map(|&v| i64::from(v)).collect();
        let mut outputs = Vec::new();
        for layer in &program.layers {
            let (dims, p) = layer_potentials(layer, &x);
            assert_eq!(
                dims, layer.output_dims,
                "oracle geometry of `{}`",
                layer.name
            );
            let f = layer.filters() as usize;
            x = if layer.activation {
                p.iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        // The engine: a 32-bit difference, and 28-bit registers for
                        // d·2^bits and k = floor(16·act_step).
                        let c = i % f;
                        let k = (f64::from(layer.act_steps[c]) * 16.0).floor() as i64;
                        let k = k & ((1 << 28) - 1);
                        let d = wrap(v - i64::from(layer.thresholds[c]));
                        if d <= 0 {
                            return 0;
                        }
                        let num = (d << layer.act_bits) & ((1 << 28) - 1);
                        let q = -((-num).div_euclid(k));
                        q.clamp(0, (1 << layer.act_bits) - 1)
                    })
                    .collect()
            } else {
                p
            };
            outputs.push(x.clone());
        }
        outputs
    }
}

fn widen<T: Copy + Into<i64>>(a: &Array4<T>) -> Vec<i64> {
    a.iter().map(|&v| v.into()).collect()
}

fn outputs_as_i64(output: &LayerOutput) -> Vec<i64> {
    match output {
        LayerOutput::Levels(a) => widen(a),
        LayerOutput::Potentials(a) => widen(a),
    }
}

/// Both kernel paths agree with the akida engine on every layer, `forward` and `predict`.
fn check_reference(model: &str) {
    let mut r = Reference::load(model);
    let input: Array4<u8> = r.array("input_uint8");
    let forward: Array4<i32> = r.array("forward");
    let predict: Array4<f32> = r.array("predict");
    for sim in [
        Simulator::new(&r.program).unwrap(),
        Simulator::new_portable(&r.program).unwrap(),
    ] {
        let outputs = sim.run_all(input.view()).unwrap();
        assert_eq!(outputs.len(), r.program.layers.len());
        let names: Vec<String> = r.program.layers.iter().map(|l| l.name.clone()).collect();
        for (k, name) in names.iter().enumerate().take(names.len() - 1) {
            let expected: Array4<u8> = r.array(&format!("layer_output_L{k}_{name}"));
            assert_eq!(
                outputs[k].levels().unwrap(),
                &expected,
                "{model}: layer {k} `{name}` levels"
            );
        }
        assert_eq!(
            outputs.last().unwrap().potentials().unwrap(),
            &forward,
            "{model}: forward"
        );
        assert_eq!(
            sim.run(input.view()).unwrap().potentials().unwrap(),
            &forward
        );
        let got = sim.predict(input.view()).unwrap();
        for (g, e) in got.iter().zip(predict.iter()) {
            let rel = (g - e).abs() / e.abs().max(f32::MIN_POSITIVE);
            assert!(rel <= 1e-6, "{model}: predict {g} vs {e}");
            assert_eq!(g.to_bits(), e.to_bits(), "{model}: predict is bit-exact");
        }
    }
}

#[test]
fn toy_variants_match_akida_bit_for_bit() {
    for model in TOY_VARIANTS {
        check_reference(model);
    }
}

#[test]
fn separable_model_matches_akida_bit_for_bit() {
    check_reference(SEPARABLE);
}

#[test]
fn akida_json_import_matches_the_npz_dump() {
    for model in TOY_VARIANTS.iter().chain([&SEPARABLE]) {
        let json = std::fs::read_to_string(data_dir().join(format!("{model}_akida.json"))).unwrap();
        let imported = bridge::program_from_json(&json, model, model.as_bytes()).unwrap();
        assert_eq!(imported, Reference::load(model).program, "{model}");
    }
    let err = bridge::program_from_json(r#"{"IP version": "v2"}"#, "m", b"").unwrap_err();
    assert_eq!(err.to_string(), "ip version `v2` is not supported");
}

#[test]
fn oracle_matches_akida_reference() {
    for model in TOY_VARIANTS.iter().chain([&SEPARABLE]) {
        let mut r = Reference::load(model);
        let input: Array4<u8> = r.array("input_uint8");
        let forward: Array4<i32> = r.array("forward");
        let image_len = r.program.input.elements() as usize;
        let per_image = forward.len() / input.shape()[0];
        for (n, image) in input
            .as_slice()
            .unwrap()
            .chunks(image_len)
            .enumerate()
            .take(4)
        {
            let out = oracle::run(&r.program, image);
            let expected = &widen(&forward)[n * per_image..(n + 1) * per_image];
            assert_eq!(
                out.last().unwrap().as_slice(),
                expected,
                "{model} image {n}"
            );
        }
    }
}

/// Synthetic programs covering geometry and paths the references do not exercise.
fn recipes() -> Vec<Recipe> {
    use LayerKind::*;
    let recipe = |name: &str, input: Dims, layers: Vec<LayerSpec>| Recipe {
        model_name: name.to_owned(),
        input,
        layers,
        seed: 1,
        calibration_images: 3,
        zero_fraction: 0.5,
        last_activation: name == "activation_last",
    };
    let max = |size: u32, stride: u32| Pooling::Max {
        size: [size; 2],
        stride: [stride; 2],
    };
    vec![
        recipe(
            "same_stride2_odd",
            Dims::new(9, 7, 3),
            vec![
                LayerSpec::conv("in", InputConvolutional, 8, 3).strided(2),
                LayerSpec::conv("c1", Convolutional, 12, 3).strided(2),
                LayerSpec::conv("c2", Convolutional, 6, 5),
                LayerSpec::dense("fc", 5),
            ],
        ),
        recipe(
            "same_stride2_even",
            Dims::new(10, 8, 1),
            vec![
                LayerSpec::conv("in", InputConvolutional, 4, 5).strided(2),
                LayerSpec::conv("s1", SeparableConvolutional, 20, 3).strided(2),
                LayerSpec::dense("fc", 3),
            ],
        ),
        recipe(
            "valid_and_pools",
            Dims::new(13, 11, 1),
            vec![
                LayerSpec::conv("in", InputConvolutional, 8, 3)
                    .padded(Padding::Valid)
                    .pooled(max(3, 2)),
                LayerSpec::conv("c1", Convolutional, 16, 3)
                    .padded(Padding::Valid)
                    .strided(2),
                LayerSpec::dense("fc", 4).bits(2, 2),
            ],
        ),
        recipe(
            "same_pools_odd",
            Dims::new(11, 9, 3),
            vec![
                LayerSpec::conv("in", InputConvolutional, 16, 3).pooled(max(3, 2)),
                LayerSpec::conv("s1", SeparableConvolutional, 24, 3).pooled(max(2, 2)),
                LayerSpec::conv("c2", Convolutional, 8, 1).pooled(max(2, 1)),
                LayerSpec::dense("fc", 10),
            ],
        ),
        recipe(
            "global_average_everywhere",
            Dims::new(8, 8, 3),
            vec![
                LayerSpec::conv("in", InputConvolutional, 8, 3),
                LayerSpec::conv("s1", SeparableConvolutional, 16, 3).bits(4, 2),
                LayerSpec::conv("c1", Convolutional, 16, 3).pooled(Pooling::GlobalAverage),
                LayerSpec::dense("fc", 7).bits(8, 1),
                LayerSpec::dense("out", 3),
            ],
        ),
        recipe(
            "wide_depthwise",
            Dims::new(9, 9, 1),
            vec![
                LayerSpec::conv("in", InputConvolutional, 12, 3),
                LayerSpec::conv("s1", SeparableConvolutional, 8, 5).bits(8, 4),
                LayerSpec::conv("s2", SeparableConvolutional, 8, 7).bits(8, 4),
                LayerSpec::dense("fc", 4),
            ],
        ),
        recipe(
            // 2-bit weights: 196 pixels of at most 9·255 never saturate the sum, so the rows
            // are summed before the product.
            "summed_wide_rows",
            Dims::new(16, 16, 1),
            vec![
                LayerSpec::conv("in", InputConvolutional, 8, 3)
                    .bits(2, 4)
                    .pooled(Pooling::GlobalAverage),
                LayerSpec::dense("fc", 6),
            ],
        ),
        recipe(
            // 8-bit weights over 144 pixels: the engine's sum saturates, pixel by pixel.
            "saturating_sums",
            Dims::new(12, 12, 3),
            vec![
                LayerSpec::conv("in", InputConvolutional, 8, 3),
                LayerSpec::conv("c1", Convolutional, 16, 5)
                    .bits(8, 4)
                    .pooled(Pooling::GlobalAverage),
                LayerSpec::dense("fc", 6),
            ],
        ),
        recipe(
            // 1024 pixels × 32 channels of potentials: one image per product.
            "chunked_group",
            Dims::new(32, 32, 3),
            vec![
                LayerSpec::conv("in", InputConvolutional, 32, 3).pooled(max(2, 2)),
                LayerSpec::conv("c1", Convolutional, 24, 3).pooled(max(2, 2)),
                LayerSpec::dense("fc", 5),
            ],
        ),
        Recipe {
            // About 3 % of the dense layer's inputs are non-zero: its event path runs.
            zero_fraction: 0.97,
            ..recipe(
                "sparse_events",
                Dims::new(8, 8, 1),
                vec![
                    LayerSpec::conv("in", InputConvolutional, 16, 3),
                    LayerSpec::dense("fc", 12),
                    LayerSpec::dense("out", 3),
                ],
            )
        },
        recipe(
            "activation_last",
            Dims::new(6, 6, 3),
            vec![
                LayerSpec::conv("in", InputConvolutional, 4, 3).bits(4, 1),
                LayerSpec::conv("c1", Convolutional, 4, 3).bits(2, 2),
            ],
        ),
    ]
}

#[test]
fn simulator_matches_oracle_on_synthetic_programs() {
    for recipe in recipes() {
        for seed in 0..3 {
            let recipe = Recipe {
                seed,
                ..recipe.clone()
            };
            let mut program = recipe.build().unwrap();
            program.layers[0].padding_value = (seed * 97) as u8;
            let images = recipe.random_images(11, 100 + seed);
            let image_len = program.input.elements() as usize;
            let expected: Vec<Vec<Vec<i64>>> = images
                .as_slice()
                .unwrap()
                .chunks(image_len)
                .map(|img| oracle::run(&program, img))
                .collect();
            for sim in [
                Simulator::new(&program).unwrap(),
                Simulator::new_portable(&program).unwrap(),
            ] {
                let outputs = sim.run_all(images.view()).unwrap();
                for (k, output) in outputs.iter().enumerate() {
                    let got = outputs_as_i64(output);
                    let per_image = got.len() / images.shape()[0];
                    for (n, exp) in expected.iter().enumerate() {
                        assert_eq!(
                            &got[n * per_image..(n + 1) * per_image],
                            exp[k].as_slice(),
                            "{} seed {seed} layer {k} image {n}",
                            recipe.model_name
                        );
                    }
                }
                let last = outputs_as_i64(&sim.run(images.view()).unwrap());
                assert_eq!(last, outputs_as_i64(outputs.last().unwrap()));
            }
            // The synthetic activations are neither all zero nor all saturated.
            let levels = &expected[0][0];
            assert!(
                levels.contains(&0) && levels.iter().any(|&v| v > 0),
                "{} seed {seed}: {levels:?}",
                recipe.model_name
            );
        }
    }
}

#[test]
fn same_geometry_with_stride_two_and_odd_sizes() {
    let same = |i, k, s| {
        let a = Axis::new(i, k, s, Padding::Same).unwrap();
        (a.output, a.pad_before, a.pad_after)
    };
    // Keras: out = ceil(in / s), the extra cell of an odd total goes after.
    assert_eq!(same(7, 3, 2), (4, 1, 1));
    assert_eq!(same(8, 3, 2), (4, 0, 1));
    assert_eq!(same(9, 5, 2), (5, 2, 2));
    assert_eq!(same(5, 5, 2), (3, 2, 2));
    assert_eq!(same(6, 1, 2), (3, 0, 0));
    assert_eq!(same(1, 3, 2), (1, 1, 1));
    assert_eq!(same(28, 2, 2), (14, 0, 0));
    assert_eq!(same(13, 3, 2), (7, 1, 1));
    assert_eq!(same(14, 3, 3), (5, 0, 1));
    let valid = |i, k, s| Axis::new(i, k, s, Padding::Valid).map(|a| a.output);
    assert_eq!(valid(7, 3, 2), Some(3));
    assert_eq!(valid(8, 3, 2), Some(3));
    assert_eq!(valid(26, 2, 2), Some(13));
    assert_eq!(valid(2, 3, 1), None);
    assert_eq!(Axis::new(5, 3, 0, Padding::Same), None);
}

#[test]
fn activation_rounding() {
    // k = floor(16·act_step): fractional 16ths truncate.
    assert_eq!(step_units(1.0 / 16.0), Some(1));
    assert_eq!(step_units(14.0), Some(224));
    assert_eq!(step_units(13.999999), Some(223));
    assert_eq!(step_units(14.03), Some(224));
    assert_eq!(step_units(0.1), Some(1));
    assert_eq!(step_units(0.13), Some(2));
    assert_eq!(step_units(0.0624), None);
    assert_eq!(step_units(134_217_728.0), None);
    // ceil division of negative numerators.
    assert_eq!(ceil_div(-7, 2), -3);
    assert_eq!(ceil_div(-8, 2), -4);
    assert_eq!(ceil_div(7, 2), 4);
    assert_eq!(ceil_div(0, 5), 0);
    // Negative differences give level 0, P == threshold too (strict comparison).
    assert_eq!(activation_level(-100, 0, 1.0, 4), 0);
    assert_eq!(activation_level(5, 5, 1.0, 4), 0);
    assert_eq!(activation_level(6, 5, 1.0, 4), 1);
    // act_step 14.03 → k 224: d = 14 gives 14·16/224 = 1 exactly, d = 15 just above 1.
    assert_eq!(activation_level(14, 0, 14.03, 4), 1);
    assert_eq!(activation_level(15, 0, 14.03, 4), 2);
    // 13.999999 → k 223: d = 14 gives 224/223 > 1 → 2 (with k = 224 it would be 1).
    assert_eq!(activation_level(14, 0, 13.999999, 4), 2);
    // Saturation and 1-/2-bit levels.
    assert_eq!(activation_level(1000, -1000, 1.0, 4), 15);
    // The engine's difference wraps in 32 bits: i32::MAX − i32::MIN is −1, level 0.
    assert_eq!(activation_level(i32::MAX, i32::MIN, 1.0, 4), 0);
    assert_eq!(activation_level(1, 0, 100.0, 1), 1);
    assert_eq!(activation_level(0, 0, 100.0, 1), 0);
    assert_eq!(activation_level(300, 0, 16.0, 2), 3);
    assert_eq!(activation_level(64, 0, 16.0, 2), 1);
    assert_eq!(activation_level(65, 0, 16.0, 2), 2);
    // docs/conversion.md §11 C.
    assert_eq!(activation_level(58, 5, 14.0, 4), 4);
    assert_eq!(dequantize(58, -2, 35.0), 1.7142857);
}

fn toy_program() -> Program {
    Reference::load("toy_q_w4_a4_iw8").program
}

#[test]
fn format_round_trip_is_identical() {
    for model in TOY_VARIANTS.iter().chain([&SEPARABLE]) {
        let program = Reference::load(model).program;
        let bytes = format::encode(&program).unwrap();
        let decoded = format::decode(&bytes).unwrap();
        assert_eq!(decoded, program, "{model}");
        assert_eq!(
            format::encode(&decoded).unwrap(),
            bytes,
            "{model}: canonical bytes"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.nsoc");
        format::write_file(&path, &program).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert_eq!(format::read_file(&path).unwrap(), program);
        // Writing again replaces the file atomically and leaves nothing else behind.
        format::write_file(&path, &program).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

#[test]
fn text_dumps_round_trip() {
    let program = toy_program();
    let ron_text = ron::ser::to_string(&program).unwrap();
    assert_eq!(ron::from_str::<Program>(&ron_text).unwrap(), program);
    let json = serde_json::to_string(&program).unwrap();
    assert!(json.contains(&program.source_sha256.to_hex()));
    assert_eq!(serde_json::from_str::<Program>(&json).unwrap(), program);
}

#[test]
fn text_summary_lists_every_layer() {
    let text = Reference::load(SEPARABLE).program.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 + 4 + 1, "{text}");
    assert!(lines[0].starts_with("model `sep_q_w4_a4_iw8` for software (source sha256 "));
    assert_eq!(lines[1], "input (28, 28, 1) uint8");
    assert_eq!(
        lines[3],
        "  1 `sep1`                   SeparableConvolutional (28, 28, 8) -> (14, 14, 16), \
         kernel 3x3/1x1 same, max pool 2x2/2x2, 4-bit weights (200), 4-bit levels"
    );
    assert!(lines[5].ends_with("4-bit weights (320), potentials"));
    assert!(lines[6].starts_with("4 layers, "));
}

#[test]
fn header_layout_is_stable() {
    let bytes = format::encode(&toy_program()).unwrap();
    assert_eq!(&bytes[..8], b"\x89NSOC\r\n\x1a");
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 1);
    assert_eq!(bytes[10], 0, "software target");
    let payload = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
    assert_eq!(payload as usize, bytes.len() - HEADER_LEN);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&bytes[..20]);
    crc.update(&bytes[HEADER_LEN..]);
    assert_eq!(
        u32::from_le_bytes(bytes[20..24].try_into().unwrap()),
        crc.finalize()
    );
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = format::encode(&Reference::load(SEPARABLE).program).unwrap();
    for len in 0..bytes.len() {
        let err = format::decode(&bytes[..len]).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, FormatError::Truncated { .. }),
            "length {len}: {text}"
        );
        assert!(!text.contains('\n') && text.starts_with("truncated file"));
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        format::decode(&longer),
        Err(FormatError::Trailing { .. })
    ));
}

#[test]
fn every_single_bit_flip_is_an_error() {
    let bytes = format::encode(&Reference::load(SEPARABLE).program).unwrap();
    let mut damaged = bytes.clone();
    for i in 0..bytes.len() {
        for bit in 0..8 {
            damaged[i] ^= 1 << bit;
            assert!(
                format::decode(&damaged).is_err(),
                "flip of bit {bit} of byte {i}"
            );
            damaged[i] = bytes[i];
        }
    }
}

/// Recomputes the header's payload length and checksum, so that damage reaches the decoder.
fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() < HEADER_LEN {
        return bytes;
    }
    let payload = (bytes.len() - HEADER_LEN) as u64;
    bytes[12..20].copy_from_slice(&payload.to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&bytes[..20]);
    crc.update(&bytes[HEADER_LEN..]);
    let crc = crc.finalize();
    bytes[20..24].copy_from_slice(&crc.to_le_bytes());
    bytes
}

/// Decoding a resealed damaged file never panics; when it succeeds, the result is a valid
/// program whose encoding is exactly the input (the format has one byte image per program).
fn decode_resealed(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let bytes = reseal(bytes);
    match format::decode(&bytes) {
        Ok(program) => {
            prop_assert!(program.validate().is_ok());
            prop_assert_eq!(format::encode(&program).unwrap(), bytes);
        }
        Err(e) => {
            let text = e.to_string();
            prop_assert!(!text.contains('\n') && !text.is_empty());
            prop_assert!(text.chars().next().unwrap().is_lowercase(), "{}", text);
        }
    }
    Ok(())
}

#[test]
fn every_resealed_single_bit_flip_decodes_or_errors_cleanly() {
    let bytes = format::encode(&Reference::load(SEPARABLE).program).unwrap();
    let mut accepted = 0;
    for i in HEADER_LEN..bytes.len() {
        for bit in 0..8 {
            let mut damaged = bytes.clone();
            damaged[i] ^= 1 << bit;
            let damaged = reseal(damaged);
            if format::decode(&damaged).is_ok() {
                accepted += 1;
            }
            decode_resealed(damaged).unwrap();
        }
    }
    // Flips inside weights/thresholds that stay in range are valid programs; most are not.
    assert!(accepted > 0 && accepted < (bytes.len() - HEADER_LEN) * 8);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_damage_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
        reseal_it in any::<bool>(),
    ) {
        let bytes = toy_bytes();
        let mut damaged = bytes.to_vec();
        for (at, value) in edits {
            let i = at.index(damaged.len());
            damaged[i] = value;
        }
        if let Some(cut) = cut {
            damaged.truncate(cut.index(damaged.len()));
        }
        if reseal_it {
            decode_resealed(damaged)?;
        } else if damaged != bytes {
            prop_assert!(format::decode(&damaged).is_err());
        }
    }
}

fn toy_bytes() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| format::encode(&toy_program()).unwrap())
}

#[test]
fn corrupt_headers_have_clear_errors() {
    let bytes = toy_bytes().to_vec();
    let message = |b: &[u8]| format::decode(b).unwrap_err().to_string();
    assert_eq!(
        message(b"PK\x03\x04 not a program"),
        "not an nsoc program: the file does not start with the nsoc magic bytes"
    );
    let mut v2 = bytes.clone();
    v2[8] = 2;
    assert_eq!(
        message(&v2),
        "unsupported nsoc format version 2 (this qnnc reads version 1)"
    );
    let mut bad_target = bytes.clone();
    bad_target[10] = 9;
    assert_eq!(
        message(&reseal(bad_target)),
        "invalid target tag 9 at byte 10"
    );
    assert!(message(&bytes[..100]).starts_with("truncated file: the payload needs"));
    let mut flipped = bytes.clone();
    flipped[200] ^= 4;
    assert!(message(&flipped).starts_with("checksum mismatch"));
    // A layer count that promises more records than bytes remain: refused before allocating.
    let name_len = u32::from_le_bytes(bytes[24..28].try_into().unwrap()) as usize;
    let count_at = HEADER_LEN + 4 + name_len + 32 + 12;
    let mut huge = bytes.clone();
    huge[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(message(&reseal(huge)).starts_with("truncated file: the layer records need"));
    // A weights count beyond the file: refused before allocating, with the layer named.
    let first_layer = count_at + 4;
    let layer_name_len =
        u32::from_le_bytes(bytes[first_layer..first_layer + 4].try_into().unwrap()) as usize;
    let weights_at = first_layer + 4 + layer_name_len + 8 + 24 + 32;
    let mut long = bytes.clone();
    long[weights_at..weights_at + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    assert_eq!(
        message(&reseal(long)),
        format!(
            "truncated file: weights needs 2147483647 bytes at byte {} (layer 0 `conv2d`) but only {} remain",
            weights_at + 4,
            bytes.len() - weights_at - 4
        )
    );
    // Invalid values that decode structurally are caught by validation, with the layer.
    let mut bits = bytes.clone();
    let act_bits_at = first_layer + 4 + layer_name_len + 5;
    bits[act_bits_at] = 3;
    assert_eq!(
        message(&reseal(bits)),
        format!(
            "invalid program (layer record at byte {first_layer}): layer 0 `conv2d`: act_bits 3 is not supported (expected 1, 2 or 4)"
        )
    );
}

fn invalid(program: &Program) -> ProgramErrorKind {
    program.validate().unwrap_err().kind
}

#[test]
fn validation_catches_broken_invariants() {
    let good = toy_program();

    let mut p = good.clone();
    p.layers[1].weights[5] = 8;
    assert!(matches!(
        invalid(&p),
        ProgramErrorKind::WeightRange {
            value: 8,
            max: 7,
            ..
        }
    ));
    let mut p = good.clone();
    p.layers[0].act_steps[3] = 0.05;
    assert!(matches!(
        invalid(&p),
        ProgramErrorKind::ActStepTooSmall { channel: 3, .. }
    ));
    let mut p = good.clone();
    p.layers[1].act_steps[0] = f32::NAN;
    assert!(matches!(
        invalid(&p),
        ProgramErrorKind::ActStepNotPositive { .. }
    ));
    let mut p = good.clone();
    p.layers[0].output_dims = Dims::new(26, 26, 8);
    assert!(matches!(invalid(&p), ProgramErrorKind::OutputDims { .. }));
    let mut p = good.clone();
    p.layers[1].input_dims = Dims::new(13, 13, 4);
    assert!(matches!(invalid(&p), ProgramErrorKind::InputDims { .. }));
    let mut p = good.clone();
    p.layers[1].thresholds.pop();
    assert!(matches!(
        invalid(&p),
        ProgramErrorKind::Length {
            what: "thresholds",
            ..
        }
    ));
    let mut p = good.clone();
    p.layers[0].activation = false;
    assert_eq!(invalid(&p), ProgramErrorKind::ActivationOff);
    let mut p = good.clone();
    p.layers[1].name = "conv2d".into();
    assert_eq!(invalid(&p), ProgramErrorKind::DuplicateName { first: 0 });
    let mut p = good.clone();
    p.layers[0].kernel = [2, 2];
    assert!(matches!(invalid(&p), ProgramErrorKind::Kernel { .. }));
    let mut p = good.clone();
    p.layers[1].kind = LayerKind::InputConvolutional;
    assert_eq!(invalid(&p), ProgramErrorKind::InputNotFirst);
    let mut p = good.clone();
    p.layers[0].weights_bits = 1;
    assert!(matches!(
        invalid(&p),
        ProgramErrorKind::WeightsBits { bits: 1, .. }
    ));
    let mut p = good.clone();
    p.layers.clear();
    assert_eq!(invalid(&p), ProgramErrorKind::NoLayers);

    // The target tag records what the program was compiled for; the AKD1000's register widths
    // are the compiler's checks (`target::akd1000`), not format invariants.
    let mut p = good.clone();
    p.target = Target::Akd1000;
    p.layers[1].thresholds[2] = -(1 << 19) - 1;
    p.layers[1].act_steps[0] = 65536.0;
    assert!(p.validate().is_ok());

    let mut p = good;
    p.layers[1].weights[0] = 9;
    p.layers[1].weights_bits = 4;
    let text = p.validate().unwrap_err().to_string();
    assert_eq!(
        text,
        "layer 1 `dense`: weights[0] = 9 is outside the 4-bit range -7..=7"
    );
}

/// Potentials beyond the 32-bit range are no longer refused: the engine wraps them (and the
/// global average pooling saturates its sum), and so does the simulator, as the oracle says.
#[test]
fn potential_overflow_wraps_as_the_engine_does() {
    let recipe = Recipe {
        model_name: "overflow".into(),
        input: Dims::new(64, 64, 3),
        layers: vec![
            LayerSpec::conv("in", LayerKind::InputConvolutional, 8, 7),
            LayerSpec::conv("c", LayerKind::Convolutional, 8, 7).pooled(Pooling::GlobalAverage),
        ],
        seed: 0,
        calibration_images: 1,
        zero_fraction: 0.5,
        last_activation: false,
    };
    let mut program = recipe.build().unwrap();
    program.validate().unwrap();
    let last = program.layers.last_mut().unwrap();
    last.weights_bits = 8;
    last.weights.iter_mut().for_each(|w| *w = 127);
    // 7·7·8 inputs · 15 · 127 · 64·64 pixels ≫ 2^31: the sum saturates at 2^19 − 1.
    program.validate().unwrap();
    let sim = Simulator::new(&program).unwrap();
    let image = Array4::<u8>::from_elem((1, 64, 64, 3), 255);
    let out = sim.run(image.view()).unwrap();
    let expected = oracle::run(&program, image.as_slice().unwrap());
    assert_eq!(
        widen(out.potentials().unwrap()),
        *expected.last().unwrap(),
        "the saturating sum"
    );
    assert!(out
        .potentials()
        .unwrap()
        .iter()
        .any(|&p| p == (1 << 19) - 1));
}

#[test]
fn inputs_are_checked() {
    let program = toy_program();
    let sim = Simulator::new(&program).unwrap();
    let wrong = Array4::<u8>::zeros((2, 28, 27, 1));
    assert!(matches!(
        sim.run(wrong.view()),
        Err(SimError::InputShape { .. })
    ));
    let mut ints = ndarray::ArrayD::<i64>::zeros(vec![28, 28, 1]);
    let one = sim.input_from(ints.view()).unwrap();
    assert_eq!(one.shape(), &[1, 28, 28, 1]);
    ints[[3, 4, 0]] = 256;
    assert_eq!(
        sim.input_from(ints.view()).unwrap_err().to_string(),
        "input value 256 at index [3, 4, 0] is outside the uint8 range 0..=255"
    );
    ints[[3, 4, 0]] = -1;
    assert!(matches!(
        sim.input_from(ints.view()),
        Err(SimError::InputRange { value: -1, .. })
    ));
    let empty = Array4::<u8>::zeros((0, 28, 28, 1));
    assert_eq!(
        sim.run(empty.view()).unwrap().potentials().unwrap().len(),
        0
    );
    // A program ending with an activation has no potentials to dequantize.
    let recipe = recipes().pop().unwrap();
    let levels_only = Simulator::new(&recipe.build().unwrap()).unwrap();
    let images = recipe.random_images(1, 0);
    assert!(matches!(
        levels_only.predict(images.view()),
        Err(SimError::NoPotentials { .. })
    ));
}
