//! Passes: IR → IR transforms on a model and (when given) its weights.
//!
//! Each pass is a function over a [`Graph`]: it rewrites the layers, keeps shapes and spans
//! consistent, and moves the weights along (folding a batch norm changes the kernel it folds
//! into). Passes report what CNN2SNN refuses as [`PassError`]s pointing at the layers
//! involved; lossy but allowed rewrites are warnings or advice. Pipelines are fixed lists
//! ([`Pipeline`]), run in order, with the model re-validated after every pass.
//!
//! The CNN2SNN transforms reproduced here (`docs/conversion.md` §4, §5): `invert_bn_pool`
//! (`invert_batchnorm_pooling`), `fold_bn` (`fold_batchnorm`), `quantize_layers` (the cloning
//! step of `cnn2snn.quantize`), `remove_dropout`, `swap_activation_pool`
//! (`sequential_invert_pooling_activation`); plus `clamp_gamma` (akida_models'
//! `add_gamma_constraint`, applied once) and `dequantize` (the float view of a model).

mod error;
mod fold;
mod quantize;
mod simple;

pub use error::PassError;
pub use fold::unfold;
pub use quantize::float_view;

use crate::ir::{Model, QuantizeSpec};
use crate::params::Params;
use miette::Diagnostic;
use serde::Serialize;
use std::fmt;

/// A model and, when known, its weights: what passes transform.
#[derive(Clone, Debug)]
pub struct Graph {
    pub model: Model,
    pub params: Option<Params>,
}

/// The passes, by name (the names `--dump-after` takes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    feature = "cli",
    derive(clap::ValueEnum),
    clap(rename_all = "snake_case")
)]
#[serde(rename_all = "snake_case")]
pub enum PassName {
    /// Raise batch-norm gammas to `gamma_min` (akida_models' gamma constraint, applied once).
    ClampGamma,
    /// Strip weight quantizers and turn quantized activations into capped ReLUs.
    Dequantize,
    /// Swap max/global-average pooling followed by batch norm (cnn2snn `invert_batchnorm_pooling`).
    InvertBnPool,
    /// Fold batch norms into the neural layer before them (cnn2snn `fold_batchnorm`).
    FoldBn,
    /// Apply the model's `quantize(...)`: quantizers and quantized activations.
    QuantizeLayers,
    /// Remove dropout layers.
    RemoveDropout,
    /// Move max pooling before the activation preceding it.
    SwapActivationPool,
}

impl fmt::Display for PassName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self).expect("pass names serialize");
        write!(
            f,
            "{}",
            s.as_str().expect("a unit variant serializes to a string")
        )
    }
}

/// Options that change what passes do.
#[derive(Clone, Debug)]
pub struct PassOptions {
    /// `--gamma-min`: a minimum gamma for every batch norm (overrides `batch_norm(gamma_min:)`).
    pub gamma_min: Option<f64>,
    /// `--quantize W,A,IW`: replaces the model's `quantize(...)` statement.
    pub quantize: Option<QuantizeSpec>,
    /// Skip batch-norm folding in the quantize pipeline (cnn2snn `fold_BN=False`).
    pub no_fold_bn: bool,
    /// Start from the float model: strip every quantizer (and the model's own
    /// `quantize(...)`); only `quantize` then quantizes it.
    pub float: bool,
    /// After emitting a program, lower act_steps above the AKD1000 registers as
    /// `cnn2snn.convert` ≥ 2.5 does (docs/conversion.md §9.4).
    pub equalize_act_steps: bool,
    /// A batch norm that cannot be folded into its layer's kernel because the layer has a
    /// per-tensor quantizer stays in the model (a warning instead of CNN2SNN's error); the
    /// emitter then puts it in the layer's thresholds and act_steps. Set when compiling a
    /// program for the simulator, never for `--target akd1000` (CNN2SNN refuses such a model).
    pub bn_in_thresholds: bool,
}

impl Default for PassOptions {
    fn default() -> Self {
        PassOptions {
            gamma_min: None,
            quantize: None,
            no_fold_bn: false,
            float: false,
            equalize_act_steps: true,
            bn_in_thresholds: false,
        }
    }
}

/// Parses `--quantize W,A[,IW]` (the arguments of a `quantize(...)` statement).
pub fn parse_quantize_arg(text: &str) -> Result<QuantizeSpec, String> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if !(2..=3).contains(&parts.len()) {
        return Err(format!(
            "expected `WEIGHTS,ACTIVATIONS[,INPUT_WEIGHTS]` bit-widths like `4,4,8`, found `{text}`"
        ));
    }
    let mut bits = Vec::new();
    for p in &parts {
        let b: u32 = p
            .parse()
            .map_err(|_| format!("`{p}` is not a bit-width (an integer from 0 to 32)"))?;
        if b > 32 {
            return Err(format!(
                "`{p}` is not a bit-width (an integer from 0 to 32)"
            ));
        }
        bits.push(b);
    }
    let (weights, activations) = (bits[0], bits[1]);
    let input_weights = bits.get(2).copied().unwrap_or(weights);
    if weights == 1 || input_weights == 1 {
        return Err(
            "weights take 0 (float) or at least 2 bits; CNN2SNN rejects 1-bit weights".to_string(),
        );
    }
    Ok(QuantizeSpec {
        weights,
        activations,
        input_weights,
        span: crate::source::Span::default(),
    })
}

impl PassOptions {
    /// How the model runs, in words: `float`, `quantized`, `float, quantized as quantize(4, 4, 8)`.
    pub fn describe(&self, model: &Model) -> String {
        let q = |s: &QuantizeSpec| {
            format!(
                "quantize(weights: {}, activations: {}, input_weights: {})",
                s.weights, s.activations, s.input_weights
            )
        };
        match (self.float, &self.quantize, &model.quantize) {
            (true, None, _) => "float".to_string(),
            (true, Some(s), _) => format!("float, then {}", q(s)),
            (false, Some(s), _) => q(s),
            (false, None, Some(s)) => q(s),
            (false, None, None) => "as written".to_string(),
        }
    }
}

/// An ordered list of passes.
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub passes: Vec<PassName>,
}

impl Pipeline {
    /// What `cnn2snn.quantize` does, for the model's `quantize(...)` (or none): gamma clamp,
    /// then (if there is a quantize statement) BN/pool inversion, BN folding and quantizers.
    /// Used by the CPU executor and by `qnnc quantize`.
    pub fn quantized(model: &Model, opts: &PassOptions) -> Pipeline {
        let mut passes = vec![PassName::ClampGamma];
        if opts.float {
            passes.push(PassName::Dequantize);
        }
        let own = model.quantize.is_some() && !opts.float;
        if own || opts.quantize.is_some() {
            if !opts.no_fold_bn {
                passes.extend([PassName::InvertBnPool, PassName::FoldBn]);
            }
            passes.push(PassName::QuantizeLayers);
        }
        Pipeline { passes }
    }

    /// `qnnc quantize`: BN folded as `cnn2snn.quantize` does even without a quantize
    /// statement (its default `fold_BN=True`), then the quantizers.
    pub fn quantize_command(opts: &PassOptions) -> Pipeline {
        let mut passes = vec![PassName::ClampGamma];
        if opts.float {
            passes.push(PassName::Dequantize);
        }
        if !opts.no_fold_bn {
            passes.extend([PassName::InvertBnPool, PassName::FoldBn]);
        }
        passes.push(PassName::QuantizeLayers);
        Pipeline { passes }
    }

    /// `cnn2snn.convert`: the quantized model, then `syncretize` (dropout removal, activation /
    /// pool swap, BN / pool inversion, BN folding).
    pub fn convert(model: &Model, opts: &PassOptions) -> Pipeline {
        let mut p = Pipeline::quantized(model, opts);
        p.passes.extend([
            PassName::RemoveDropout,
            PassName::SwapActivationPool,
            PassName::InvertBnPool,
            PassName::FoldBn,
        ]);
        p
    }
}

/// What to write after which pass (`--dump-after`).
#[derive(Clone, Debug, Default)]
pub struct Dump {
    pub after: Vec<PassName>,
    /// Where the RON files go.
    pub dir: std::path::PathBuf,
}

/// The result of running a pipeline: every diagnostic, and whether it stopped on an error.
#[derive(Debug, Default)]
pub struct PassReport {
    pub diagnostics: Vec<PassError>,
    /// The dumps written: `(pass, path)`.
    pub dumps: Vec<(PassName, std::path::PathBuf)>,
}

impl PassReport {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|e| e.severity().unwrap_or(miette::Severity::Error) == miette::Severity::Error)
    }
}

/// Runs `pipeline` on `g`, stopping after the first pass that reports an error.
pub fn run(
    g: &mut Graph,
    pipeline: &Pipeline,
    opts: &PassOptions,
    dump: &Dump,
) -> Result<PassReport, crate::io::IoError> {
    let mut report = PassReport::default();
    for &pass in &pipeline.passes {
        let before = report.diagnostics.len();
        run_one(g, pass, opts, &mut report.diagnostics);
        let failed = report.diagnostics[before..]
            .iter()
            .any(|e| e.severity().unwrap_or(miette::Severity::Error) == miette::Severity::Error);
        if failed {
            break;
        }
        validate(&g.model, pass);
        if dump.after.contains(&pass) {
            let path = dump.dir.join(format!("{}.after-{pass}.ron", g.model.name));
            let text = to_ron(&g.model);
            crate::io::write_atomic(&path, |w| std::io::Write::write_all(w, text.as_bytes()))?;
            report.dumps.push((pass, path));
        }
    }
    Ok(report)
}

fn run_one(g: &mut Graph, pass: PassName, opts: &PassOptions, diags: &mut Vec<PassError>) {
    match pass {
        PassName::ClampGamma => simple::clamp_gamma(g, opts.gamma_min, diags),
        PassName::Dequantize => quantize::dequantize(g),
        PassName::InvertBnPool => fold::invert_bn_pool(g, diags),
        PassName::FoldBn => fold::fold_bn(g, opts.bn_in_thresholds, diags),
        PassName::QuantizeLayers => {
            let spec = opts.quantize.clone().or_else(|| g.model.quantize.clone());
            if let Some(spec) = spec {
                quantize::quantize_layers(g, &spec, diags);
            }
        }
        PassName::RemoveDropout => simple::remove_dropout(g),
        PassName::SwapActivationPool => simple::swap_activation_pool(g),
    }
}

/// The model as pretty RON (spans left out).
pub fn to_ron(model: &Model) -> String {
    let config = ron::ser::PrettyConfig::new()
        .indentor("  ".to_string())
        .compact_arrays(true);
    let mut s = ron::ser::to_string_pretty(model, config).expect("an IR model serializes");
    s.push('\n');
    s
}

/// Checks the IR invariants after a pass; a violation is a bug in that pass.
pub fn validate(model: &Model, after: PassName) {
    let mut shape = &model.input.shape;
    let mut names = std::collections::BTreeSet::new();
    for l in &model.layers {
        assert_eq!(
            &l.input_shape, shape,
            "after pass `{after}`: layer `{}` does not take the previous layer's output shape",
            l.name
        );
        assert!(
            names.insert(l.name.as_str()),
            "after pass `{after}`: layer name `{}` is not unique",
            l.name
        );
        shape = &l.output_shape;
    }
}
