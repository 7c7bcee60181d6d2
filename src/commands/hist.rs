//! `qnnc hist`: the CNN2SNN tutorial's figure — a histogram of a layer's float weights beside
//! the histogram of the same weights after quantization — to see how a quantizer spends its
//! levels. `--quantizer` tries another quantizer on the same weights.

use super::{CliError, Common, ModelArgs};
use crate::backend::nsoc::Target;
use crate::ir::summary::describe_quantizer;
use crate::ir::QuantizerRef;
use crate::plot::{self, Format, Histogram, Panel};
use crate::quant::{build, QuantizerSpec};
use crate::session::Stage;
use crate::source::SourceFile;
use crate::syntax::ast::{Expr, ExprKind};
use plotters::style::RGBColor;
use std::path::PathBuf;

/// `qnnc hist`.
#[derive(clap::Args, Clone, Debug)]
pub struct HistArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The float weights (`.npz`).
    #[arg(long)]
    pub weights: PathBuf,
    /// The layer whose kernel to plot.
    #[arg(long)]
    pub layer: String,
    /// Which kernel (`kernel`, `depthwise_kernel`, `pointwise_kernel`); default: the layer's
    /// first quantized kernel, else its first kernel.
    #[arg(long)]
    pub variable: Option<String>,
    /// Another quantizer to try: a call like `"max(bits: 4)"` or a quantizer of the file.
    #[arg(long)]
    pub quantizer: Option<String>,
    /// The figure (`.svg` or `.png`).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Number of histogram bins.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub bins: u32,
}

pub fn run(opts: &HistArgs, common: &Common) -> Result<(), CliError> {
    let format = Format::from_path(&opts.output).ok_or_else(|| CliError::Usage {
        message: format!("cannot tell the figure type of `{}`", opts.output.display()),
        help: Some("name the output `….svg` or `….png`".to_string()),
    })?;
    let m = &opts.model;
    crate::io::check_output(&opts.output, &[&m.model, &opts.weights])?;
    let (session, job) = m.load(Some(&opts.weights), Target::Software, common)?;
    let named = session
        .module
        .as_ref()
        .map(|m| m.quantizers.clone())
        .unwrap_or_default();
    let graph = super::transform(&session, &job, Stage::Quantized, common)?;
    let layer = graph.model.layer(&opts.layer).ok_or_else(|| {
        let names: Vec<&str> = graph.model.layers.iter().map(|l| l.name.as_str()).collect();
        CliError::Usage {
            message: format!("model `{}` has no layer `{}`", graph.model.name, opts.layer),
            help: Some(match crate::ir::did_you_mean(&opts.layer, &names) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("its layers with weights are {}", with_kernels(&graph.model)),
            }),
        }
    })?;
    let kernels: Vec<&str> = layer
        .variables()
        .iter()
        .map(|v| v.name)
        .filter(|n| n.ends_with("kernel"))
        .collect();
    if kernels.is_empty() {
        return Err(CliError::Usage {
            message: format!("layer `{}` has no kernel", layer.name),
            help: Some(format!(
                "layers with kernels: {}",
                with_kernels(&graph.model)
            )),
        });
    }
    let own: Vec<(&str, &QuantizerRef)> = layer.op.quantizers();
    let var = match &opts.variable {
        Some(v) if kernels.contains(&v.as_str()) => v.clone(),
        Some(v) => {
            return Err(CliError::Usage {
                message: format!("layer `{}` has no kernel `{v}`", layer.name),
                help: Some(format!("its kernels are {}", kernels.join(", "))),
            })
        }
        None => own.first().map_or(kernels[0], |(v, _)| v).to_string(),
    };
    let (spec, label): (QuantizerSpec, Option<String>) = match &opts.quantizer {
        Some(text) => (
            parse_quantizer(text, &named)?,
            Some(text.trim().to_string()),
        ),
        None => own
            .iter()
            .find(|(v, _)| *v == var)
            .map(|(_, q)| (q.spec.clone(), q.name.clone()))
            .ok_or_else(|| CliError::Usage {
                message: format!("`{}/{var}` has no quantizer", layer.name),
                help: Some("try one with `--quantizer \"max(bits: 4)\"`".to_string()),
            })?,
    };
    let params = graph
        .params
        .as_ref()
        .expect("the graph was built with weights");
    let w = params.expect(&layer.name, &var);
    let q = build(&spec).quantize(w.view());
    let values: Vec<f32> = w.iter().copied().collect();
    let qvalues: Vec<f32> = q.iter().copied().collect();
    let lo = values
        .iter()
        .chain(&qvalues)
        .copied()
        .fold(f32::INFINITY, f32::min);
    let hi = values
        .iter()
        .chain(&qvalues)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    let distinct = {
        let mut v = qvalues.clone();
        v.sort_by(f32::total_cmp);
        v.dedup();
        v.len()
    };
    let panels = [
        Panel {
            title: format!("float weights ({} values)", values.len()),
            hist: Histogram::new(&values, lo, hi, opts.bins as usize),
            color: RGBColor(31, 119, 180),
        },
        Panel {
            title: match &label {
                Some(l) if *l != describe_quantizer(&spec) => {
                    format!(
                        "{l}: {} ({distinct} distinct values)",
                        describe_quantizer(&spec)
                    )
                }
                _ => format!("{} ({distinct} distinct values)", describe_quantizer(&spec)),
            },
            hist: Histogram::new(&qvalues, lo, hi, opts.bins as usize),
            color: RGBColor(255, 127, 14),
        },
    ];
    let title = format!("{}/{var} of model `{}`", layer.name, graph.model.name);
    plot::write_panels(&opts.output, format, &title, &panels)?;
    // Root-mean-square quantization error over all weights, and over the 99 % of smallest
    // magnitude (the bulk, without the outliers), accumulated in f64 in a fixed order.
    let rms = |pairs: &[(f32, f32)]| {
        (pairs
            .iter()
            .map(|&(w, q)| f64::from(w - q).powi(2))
            .sum::<f64>()
            / pairs.len().max(1) as f64)
            .sqrt()
    };
    let mut pairs: Vec<(f32, f32)> = values
        .iter()
        .copied()
        .zip(qvalues.iter().copied())
        .collect();
    let rms_all = rms(&pairs);
    pairs.sort_by(|a, b| a.0.abs().total_cmp(&b.0.abs()));
    let rms_bulk = rms(&pairs[..pairs.len() * 99 / 100]);
    println!(
        "wrote `{}`: {}/{var}, {} weights, {} → {distinct} distinct values, rms error {rms_all:.5} ({rms_bulk:.5} on the 99 % smallest |w|)",
        opts.output.display(),
        layer.name,
        values.len(),
        describe_quantizer(&spec)
    );
    Ok(())
}

fn with_kernels(model: &crate::ir::Model) -> String {
    model
        .layers
        .iter()
        .filter(|l| l.op.is_neural())
        .map(|l| format!("`{}`", l.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `--quantizer`: a call such as `max(bits: 4)`, or the name of a quantizer of the file.
pub fn parse_quantizer(
    text: &str,
    named: &std::collections::BTreeMap<String, QuantizerSpec>,
) -> Result<QuantizerSpec, CliError> {
    // The trailing line break gives "end of file" a place to be drawn.
    let src = SourceFile::new("--quantizer", format!("{}\n", text.trim()));
    let word = src.text().trim_end();
    let is_name = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let expr = if is_name {
        Expr {
            kind: ExprKind::Ident(word.to_string()),
            span: crate::source::Span::new(0, word.len()),
        }
    } else {
        let call = crate::syntax::parse_call(&src).map_err(|e| render_arg_error(&src, e.into()))?;
        Expr {
            span: call.span,
            kind: ExprKind::Call(call),
        }
    };
    crate::ir::lower_quantizer(&expr, named).map_err(|errs| {
        let first = errs
            .into_iter()
            .next()
            .expect("lowering failed with an error");
        render_arg_error(&src, first.into())
    })
}

/// An error in a command-line value, rendered against the value's own text.
pub(crate) fn render_arg_error(src: &SourceFile, e: crate::Error) -> CliError {
    let opts = crate::diag::RenderOptions::plain(crate::diag::MessageFormat::Human);
    eprint!("{}", crate::diag::render(src, &e, opts));
    CliError::Reported("invalid `--quantizer`".to_string())
}
