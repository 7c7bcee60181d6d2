//! `qnnc demo`: the whole flow on the shipped example and data, in one command — train the
//! tutorial's toy model in float on MNIST, quantize it as `quantize(weights: 4, activations: 4,
//! input_weights: 8)`, fine-tune it, compile it for the AKD1000, run the integer program on the
//! 10 000 test images, and print one table.

use super::train::{train, OptimizerKind, ScheduleArg, TrainArgs};
use super::{argmax, failed, load, CliError, Common, ModelArgs, PassArgs};
use crate::backend::cpu::network::Inputs;
use crate::backend::nsoc::{LayerOutput, Simulator, Target};
use crate::io::{ErrorKind, IoError};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `qnnc demo`.
#[derive(clap::Args, Clone, Debug)]
pub struct DemoArgs {
    /// The model (the CNN2SNN tutorial's toy model).
    #[arg(long, default_value = "examples/toy.q")]
    pub model: PathBuf,
    /// The MNIST-style dataset directory (IDX files, gzipped or not).
    #[arg(long, default_value = "examples/data/mnist")]
    pub data: PathBuf,
    /// Where the weights and the program are written.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// Worker threads.
    #[arg(long, default_value_t = super::default_threads(), value_parser = super::at_least_one)]
    pub threads: usize,
    /// Epochs of float training.
    #[arg(long, default_value_t = 5)]
    pub float_epochs: usize,
    /// Epochs of quantized fine-tuning.
    #[arg(long, default_value_t = 2)]
    pub tune_epochs: usize,
    /// Seed of the initial weights and the shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(opts: &DemoArgs, common: &Common) -> Result<(), CliError> {
    let start = Instant::now();
    std::fs::create_dir_all(&opts.out).map_err(|e| {
        IoError::new(ErrorKind::Os, crate::io::reason(&e))
            .at(&opts.out)
            .with_help("give `--out` a directory that can be created")
    })?;
    let float_w = opts.out.join("toy_float.npz");
    let quant_w = opts.out.join("toy_quantized.npz");
    let program_path = opts.out.join("toy.nsoc");
    let quantize = crate::passes::parse_quantize_arg("4,4,8").expect("a valid spec");
    let float_args = PassArgs {
        float: true,
        ..PassArgs::default()
    };
    let quant_args = PassArgs {
        float: true,
        quantize: Some(quantize),
        ..PassArgs::default()
    };
    eprintln!(
        "1/4 training `{}` in float on `{}`",
        opts.model.display(),
        opts.data.display()
    );
    let base = TrainArgs {
        model: ModelArgs {
            model: opts.model.clone(),
            model_name: None,
            passes: float_args,
        },
        data: opts.data.clone(),
        output: float_w.clone(),
        weights: None,
        epochs: opts.float_epochs,
        batch_size: 128,
        lr: Some(0.003),
        optimizer: OptimizerKind::Adam,
        schedule: ScheduleArg::Cosine,
        momentum: 0.9,
        seed: opts.seed,
        threads: opts.threads,
        no_validation: true,
        resume: false,
        checkpoint: None,
    };
    let float_acc = train(&base, common)?;
    eprintln!(
        "2/4 quantizing (4-bit weights, 4-bit activations, 8-bit input weights) and fine-tuning"
    );
    let tune = TrainArgs {
        model: ModelArgs {
            passes: quant_args.clone(),
            ..base.model.clone()
        },
        output: quant_w.clone(),
        weights: Some(float_w.clone()),
        epochs: opts.tune_epochs,
        lr: Some(0.0005),
        ..base.clone()
    };
    let quant_acc = train(&tune, common)?;

    eprintln!("3/4 compiling for the AKD1000");
    let (session, job) = load(
        &opts.model,
        None,
        Some(&quant_w),
        quant_args.options(Target::Akd1000),
        common,
    )?;
    let t = Instant::now();
    let compiled = job
        .compile(session.src.text())
        .map_err(|f| failed(&session, f, "does not map on the AKD1000", common))?;
    let compile_ms = t.elapsed().as_secs_f64() * 1e3;
    crate::backend::nsoc::write_file(&program_path, &compiled.program)?;

    eprintln!("4/4 running the integer program on the test images");
    let data = crate::io::load_dataset(&opts.data)?;
    let images = &data.test.images;
    let labels = &data.test.labels;
    let sim = Simulator::new(&compiled.program)?;
    let t = Instant::now();
    let out = sim.run(images.view())?;
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
        .map(argmax)
        .collect();
    let int_acc = program_pred
        .iter()
        .zip(labels)
        .filter(|(&p, &l)| p == l as usize)
        .count() as f64
        / n as f64;
    // The quantized executor on the same images, for agreement.
    let (mut net, _) = job
        .executor(opts.threads, 0)
        .map_err(|f| failed(&session, f, "cannot be transformed", common))?;
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
