//! `qnnc quantize`: what `cnn2snn.quantize` makes of a model and its weights — batch norms
//! folded, every quantized kernel as discretized floats, integers and scale factors — plus a
//! per-layer report of how the quantization went.

use super::{CliError, Common, ModelArgs};
use crate::backend::nsoc::Target;
use crate::io::{Array, ArrayMap};
use crate::ir::summary::describe_quantizer;
use crate::quant::{build, quant_stats, WeightQuantizer};
use crate::session::Stage;
use std::fmt::Write as _;
use std::path::PathBuf;

/// `qnnc quantize`.
#[derive(clap::Args, Clone, Debug)]
pub struct QuantizeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The float weights (`.npz`).
    #[arg(long)]
    pub weights: PathBuf,
    /// The `.npz` to write; without it, only the report is printed.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// One row of the report.
struct Row {
    layer: String,
    var: String,
    quantizer: String,
    stats: crate::quant::QuantStats,
    kmax: f32,
}

pub fn run(opts: &QuantizeArgs, common: &Common) -> Result<(), CliError> {
    let m = &opts.model;
    if let Some(out) = &opts.output {
        crate::io::check_output(out, &[&m.model, &opts.weights])?;
    }
    let (session, job) = m.load(Some(&opts.weights), Target::Software, common)?;
    let graph = super::transform(&session, &job, Stage::QuantizeCommand, common)?;
    let params = graph
        .params
        .as_ref()
        .expect("the graph was built with weights");
    let mut arrays: ArrayMap = params.to_array_map();
    let mut rows = Vec::new();
    for layer in &graph.model.layers {
        for (var, q) in layer.op.quantizers() {
            let w = params.expect(&layer.name, var).view();
            let quantizer: Box<dyn WeightQuantizer> = build(&q.spec);
            let out = quantizer.quantize_all(w.clone());
            let key = |suffix: &str| format!("{}/{var}_{suffix}", layer.name);
            arrays.insert(key("q"), Array::F32(out.q));
            arrays.insert(key("int"), Array::I32(out.int));
            arrays.insert(key("sf"), Array::F32(out.sf.to_array()));
            rows.push(Row {
                layer: layer.name.clone(),
                var: var.to_string(),
                quantizer: describe_quantizer(&q.spec),
                stats: quant_stats(quantizer.as_ref(), w),
                kmax: quantizer.kmax(),
            });
        }
    }
    if rows.is_empty() {
        return Err(CliError::Usage {
            message: format!("model `{}` has no weight quantizer", graph.model.name),
            help: Some(
                "add `quantize(weights: 4, activations: 4)` to the model, give layers a `quantizer:`, or pass `--quantize 4,4`"
                    .to_string(),
            ),
        });
    }
    print!("{}", report(&graph.model.name, &rows));
    if let Some(out) = &opts.output {
        crate::io::write_npz(out, &arrays)?;
        println!("wrote `{}` ({} arrays)", out.display(), arrays.len());
    }
    Ok(())
}

fn report(model: &str, rows: &[Row]) -> String {
    let header = [
        "layer",
        "variable",
        "quantizer",
        "bits",
        "scale factor",
        "levels",
        "clipped",
        "max |w-q|",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            let s = &r.stats;
            let sf = if s.sf_min == s.sf_max {
                format!("{:.6}", s.sf_min)
            } else {
                format!("{:.6} .. {:.6}", s.sf_min, s.sf_max)
            };
            [
                r.layer.clone(),
                r.var.clone(),
                r.quantizer.clone(),
                s.bits.to_string(),
                sf,
                format!("{} / {}", s.levels_used, 2 * r.kmax as usize + 1),
                format!("{:.2}%", 100.0 * s.saturated_fraction()),
                format!("{:.3e}", s.max_abs_error),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "quantized weights of model `{model}`:");
    let line = |out: &mut String, cells: &[&str]| {
        let mut s = String::new();
        for (c, cell) in cells.iter().enumerate() {
            let _ = write!(s, "{cell:<w$}  ", w = widths[c]);
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    line(&mut out, &header);
    for r in &cells {
        let refs: Vec<&str> = r.iter().map(String::as_str).collect();
        line(&mut out, &refs);
    }
    out
}
