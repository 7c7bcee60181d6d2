//! `qnnc demo`: the whole flow on the shipped example and data, in one command — train the
//! tutorial's toy model in float on MNIST, quantize it as `quantize(weights: 4, activations: 4,
//! input_weights: 8)`, fine-tune it, compile it for the AKD1000, run the integer program on the
//! 10 000 test images, and print one table.

use super::train::{train, TrainOptions};
use super::{load_with_weights, Common};
use crate::backend::cpu::network::{Inputs, Network};
use crate::backend::cpu::train::Schedule;
use crate::backend::cpu::Cpu;
use crate::backend::nsoc::{LayerOutput, Simulator, Target};
use crate::compile::{compile, hardware, CompileFailure};
use crate::driver::CliError;
use crate::passes::{Dump, Graph, PassOptions, Pipeline};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub model: PathBuf,
    pub data: PathBuf,
    /// Where the weights and the program go.
    pub out: PathBuf,
    pub threads: usize,
    pub float_epochs: usize,
    pub tune_epochs: usize,
    pub seed: u64,
}

fn fail(e: impl std::fmt::Display) -> CliError {
    CliError::Io {
        message: e.to_string(),
        help: None,
    }
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv {
                (i, v)
            } else {
                (bi, bv)
            }
        })
        .0
}

pub fn run(opts: &DemoOptions, common: &Common) -> Result<(), CliError> {
    let start = Instant::now();
    std::fs::create_dir_all(&opts.out).map_err(|e| CliError::Io {
        message: format!(
            "cannot create `{}`: {}",
            opts.out.display(),
            crate::driver::io_reason(&e)
        ),
        help: None,
    })?;
    let float_w = opts.out.join("toy_float.npz");
    let quant_w = opts.out.join("toy_quantized.npz");
    let program_path = opts.out.join("toy.nsoc");
    let quantize = crate::passes::parse_quantize_arg("4,4,8").expect("a valid spec");
    let float_opts = PassOptions {
        float: true,
        ..PassOptions::default()
    };
    let quant_opts = PassOptions {
        float: true,
        quantize: Some(quantize),
        ..PassOptions::default()
    };
    eprintln!(
        "1/4 training `{}` in float on `{}`",
        opts.model.display(),
        opts.data.display()
    );
    let base = TrainOptions {
        model: opts.model.clone(),
        model_name: None,
        data: opts.data.clone(),
        output: float_w.clone(),
        weights: None,
        epochs: opts.float_epochs,
        batch_size: 128,
        learning_rate: Some(0.003),
        optimizer: super::train::OptimizerKind::Adam,
        schedule: Schedule::Cosine,
        momentum: 0.9,
        seed: opts.seed,
        threads: opts.threads,
        no_validation: true,
        resume: false,
        checkpoint: None,
        passes: float_opts,
        dump: Dump::default(),
    };
    let float_acc = train(&base, common)?;
    eprintln!(
        "2/4 quantizing (4-bit weights, 4-bit activations, 8-bit input weights) and fine-tuning"
    );
    let tune = TrainOptions {
        output: quant_w.clone(),
        weights: Some(float_w.clone()),
        epochs: opts.tune_epochs,
        learning_rate: Some(0.0005),
        passes: quant_opts.clone(),
        ..base.clone()
    };
    let quant_acc = train(&tune, common)?;

    eprintln!("3/4 compiling for the AKD1000");
    let loaded = load_with_weights(&opts.model, None, &quant_w, common)?;
    let original = loaded.params.clone();
    let t = Instant::now();
    let compiled = match compile(
        &loaded.model,
        loaded.params.clone(),
        loaded.front.src.text(),
        Target::Akd1000,
        &quant_opts,
        &Dump::default(),
    ) {
        Ok(c) => c,
        Err(CompileFailure::Io(e)) => return Err(e.into()),
        Err(CompileFailure::Diagnostics(d)) => {
            super::emit(&loaded.front.src, &d, common);
            return Err(CliError::Reported(
                "the demo model does not compile".to_string(),
            ));
        }
    };
    let violations = hardware(&compiled, Some(&original));
    let compile_ms = t.elapsed().as_secs_f64() * 1e3;
    if !violations.is_empty() {
        let d: Vec<crate::Error> = violations.into_iter().map(Into::into).collect();
        super::emit(&loaded.front.src, &d, common);
        return Err(CliError::Reported(
            "the demo model does not map on the AKD1000".to_string(),
        ));
    }
    crate::backend::nsoc::write_file(&program_path, &compiled.emitted.program).map_err(fail)?;

    eprintln!("4/4 running the integer program on the test images");
    let data = crate::io::load_dataset(&opts.data)?;
    let images = &data.test.images;
    let labels = &data.test.labels;
    let sim = Simulator::new(&compiled.emitted.program).map_err(fail)?;
    let t = Instant::now();
    let out = sim.run(images.view()).map_err(fail)?;
    let sim_seconds = t.elapsed().as_secs_f64();
    let potentials = match out {
        LayerOutput::Potentials(p) => p,
        LayerOutput::Levels(_) => unreachable!("the toy model ends without an activation"),
    };
    let n = labels.len();
    let classes = potentials.dim().3;
    let program_pred: Vec<usize> = potentials
        .as_slice()
        .expect("contiguous")
        .chunks(classes)
        .map(|c| {
            c.iter()
                .enumerate()
                .max_by_key(|(_, &v)| v)
                .map_or(0, |(i, _)| i)
        })
        .collect();
    let int_acc = program_pred
        .iter()
        .zip(labels)
        .filter(|(&p, &l)| p == l as usize)
        .count() as f64
        / n as f64;
    // The quantized executor on the same images, for agreement.
    let mut graph = Graph {
        model: loaded.model.clone(),
        params: Some(loaded.params),
    };
    crate::passes::run(
        &mut graph,
        &Pipeline::quantized(&loaded.model, &quant_opts),
        &quant_opts,
        &Dump::default(),
    )?;
    let mut net = Network::new(
        Cpu::new(opts.threads).map_err(fail)?,
        &graph.model,
        graph.params.as_ref().expect("weights"),
        0,
    )
    .map_err(fail)?;
    let (logits, _) = net.predict(&Inputs::U8(images.view().into_dyn()), true, 1000, false);
    let cpu_pred: Vec<usize> = logits
        .as_slice()
        .expect("contiguous")
        .chunks(classes)
        .map(argmax)
        .collect();
    let agree = cpu_pred
        .iter()
        .zip(&program_pred)
        .filter(|(a, b)| a == b)
        .count() as f64
        / n as f64;
    let levels = super::diff::agreement(
        &compiled,
        &images.slice(ndarray::s![..1000, .., .., ..]).to_owned(),
        opts.threads,
    )?;
    let level_line = levels
        .iter()
        .filter(|l| l.levels)
        .map(|l| {
            format!(
                "`{}` {:.2}% exact",
                l.name,
                100.0 * l.exact as f64 / l.values.max(1) as f64
            )
        })
        .collect::<Vec<_>>()
        .join(", ");

    let show = |p: &Path| p.display().to_string();
    println!();
    println!("| qnnc demo: the CNN2SNN tutorial's toy model on MNIST | |");
    println!("|---|---|");
    println!(
        "| float accuracy ({} epochs) | {:.2} % |",
        opts.float_epochs,
        100.0 * float_acc
    );
    println!(
        "| quantized accuracy, 4/4/8 bits ({} fine-tuning epochs) | {:.2} % |",
        opts.tune_epochs,
        100.0 * quant_acc
    );
    println!(
        "| integer-program accuracy (AKD1000 program, {n} test images) | {:.2} % |",
        100.0 * int_acc
    );
    println!(
        "| quantized executor and program agree on the class | {:.2} % of images |",
        100.0 * agree
    );
    println!("| activation levels identical (first 1000 images) | {level_line} |");
    println!("| compile time (AKD1000, all checks) | {compile_ms:.1} ms |");
    println!(
        "| integer simulation | {:.0} images/s |",
        n as f64 / sim_seconds.max(1e-9)
    );
    println!(
        "| weights | `{}` (float), `{}` (quantized) |",
        show(&float_w),
        show(&quant_w)
    );
    println!("| program | `{}` |", show(&program_path));
    println!("| total time | {:.1} s |", start.elapsed().as_secs_f64());
    Ok(())
}
