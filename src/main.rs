//! The `qnnc` command line: argument parsing only. Every command lives in `qnnc::commands`.

use clap::{Args, Parser, Subcommand};
use qnnc::commands::{self, Common};
use qnnc::diag::MessageFormat;
use qnnc::driver::{self, CliError};
use qnnc::ir::QuantizeSpec;
use qnnc::passes::{Dump, PassName, PassOptions};
use std::path::PathBuf;
use std::process::ExitCode;

/// qnnc — a compiler for quantized neural networks on BrainChip's Akida 1.0 (AKD1000).
#[derive(Parser)]
#[command(name = "qnnc", version, about, long_about = None)]
struct Cli {
    /// How diagnostics are printed.
    #[arg(long, global = true, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
    /// The most memory one model, file or batch may take, e.g. `512M`, `2G` (default: the
    /// `QNNC_MEMORY_BUDGET` environment variable, else a quarter of the RAM).
    #[arg(long, global = true, value_name = "SIZE", value_parser = memory_budget)]
    memory_budget: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

/// Options of the commands that transform a model with its weights.
#[derive(Args, Clone)]
struct PassArgs {
    /// Raise every batch-norm gamma to at least this value first (akida_models' gamma
    /// constraint, applied once).
    #[arg(long, value_name = "G", value_parser = positive_float)]
    gamma_min: Option<f64>,
    /// Quantize as `quantize(weights: W, activations: A, input_weights: IW)` would, instead of
    /// the model's own `quantize(...)` statement.
    #[arg(long, value_name = "W,A[,IW]", value_parser = qnnc::passes::parse_quantize_arg)]
    quantize: Option<QuantizeSpec>,
    /// Quantize without folding batch norms first (cnn2snn `quantize(fold_BN=False)`): the
    /// batch norms stay in the model, so training keeps normalizing, and `compile` folds them
    /// at conversion as `cnn2snn.convert` does.
    #[arg(long)]
    no_fold_bn: bool,
    /// Write the IR as RON after these passes (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "PASS")]
    dump_after: Vec<PassName>,
    /// Where `--dump-after` writes its files.
    #[arg(long, default_value = ".", value_name = "DIR")]
    dump_dir: PathBuf,
    /// Start from the float model: ignore every quantizer and quantized activation (and the
    /// model's `quantize(...)`); with `--quantize`, quantize that float model.
    #[arg(long)]
    float: bool,
    /// Keep act_steps above the AKD1000 registers instead of equalizing them as
    /// `cnn2snn.convert` 2.5+ does (CNN2SNN 2.3.7's behaviour).
    #[arg(long)]
    no_act_step_equalization: bool,
}

impl PassArgs {
    fn options(&self) -> PassOptions {
        PassOptions {
            gamma_min: self.gamma_min,
            quantize: self.quantize.clone(),
            no_fold_bn: self.no_fold_bn,
            float: self.float,
            equalize_act_steps: !self.no_act_step_equalization,
            // Software semantics everywhere (predict, train, check): a batch norm after a
            // per-tensor quantized layer stays unfolded; `compile` and `check --target akd1000`
            // decide by their target.
            bn_in_thresholds: true,
        }
    }

    fn dump(&self) -> Dump {
        Dump {
            after: self.dump_after.clone(),
            dir: self.dump_dir.clone(),
        }
    }
}

/// `--target`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum TargetArg {
    /// The integer simulator.
    Software,
    /// BrainChip's AKD1000 (Akida 1.0) chip.
    Akd1000,
}

impl From<TargetArg> for qnnc::backend::nsoc::Target {
    fn from(t: TargetArg) -> Self {
        match t {
            TargetArg::Software => qnnc::backend::nsoc::Target::Software,
            TargetArg::Akd1000 => qnnc::backend::nsoc::Target::Akd1000,
        }
    }
}

fn default_threads() -> usize {
    qnnc::backend::cpu::Cpu::available_threads()
}

fn memory_budget(s: &str) -> Result<u64, String> {
    qnnc::io::budget::parse_size(s).map_err(|e| match e.help_text() {
        Some(help) => format!("{}; {help}", e.cause()),
        None => e.cause().to_string(),
    })
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!(
            "expected a whole number of at least 1, found `{s}`"
        )),
    }
}

fn positive_float(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("expected a positive number, found `{s}`")),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Report every problem of a model file (exit 0 when there is no error).
    Check {
        /// The `.q` file.
        model: PathBuf,
        /// Also check a weights file (`.npz`) against the model.
        #[arg(long)]
        weights: Option<PathBuf>,
        /// The model to check the weights against when the file defines several.
        #[arg(long = "model")]
        model_name: Option<String>,
        /// Also check the rules of this chip (`akd1000`).
        #[arg(long, value_enum)]
        target: Option<TargetArg>,
        #[command(flatten)]
        passes: PassArgs,
    },
    /// Quantize a model's weights as `cnn2snn.quantize` does: batch norms folded, then per
    /// quantized kernel `LAYER/VAR_q` (discretized floats), `_int` (integers) and `_sf` (scale
    /// factors), with a per-layer report.
    Quantize {
        model: PathBuf,
        /// The float weights (`.npz`).
        #[arg(long)]
        weights: PathBuf,
        /// The `.npz` to write; without it, only the report is printed.
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[arg(long = "model")]
        model_name: Option<String>,
        #[command(flatten)]
        passes: PassArgs,
    },
    /// Draw a layer's float weights beside their quantized values (the CNN2SNN tutorial's
    /// histogram), to SVG or PNG.
    Hist {
        model: PathBuf,
        #[arg(long)]
        weights: PathBuf,
        /// The layer whose kernel to plot.
        #[arg(long)]
        layer: String,
        /// Which kernel (`kernel`, `depthwise_kernel`, `pointwise_kernel`).
        #[arg(long)]
        variable: Option<String>,
        /// Another quantizer to try: a call like `"max(bits: 4)"` or a quantizer of the file.
        #[arg(long)]
        quantizer: Option<String>,
        /// The figure (`.svg` or `.png`).
        #[arg(short, long)]
        output: PathBuf,
        /// Number of histogram bins.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10000))]
        bins: u32,
        #[arg(long = "model")]
        model_name: Option<String>,
        #[command(flatten)]
        passes: PassArgs,
    },
    /// Run the CPU executor on images from a `.npy` (uint8 images are mapped by the model's
    /// input scaling; float32 values are used as they are).
    Predict {
        model: PathBuf,
        #[arg(long)]
        weights: PathBuf,
        /// The inputs (`.npy`): a batch or one sample.
        #[arg(long)]
        input: PathBuf,
        /// Where to write the outputs (`.npy`, float32).
        #[arg(short, long)]
        output: PathBuf,
        /// Output the logits (drop a final softmax).
        #[arg(long)]
        logits: bool,
        /// Also write every layer's output to this directory (`<k>_<layer>.npy`).
        #[arg(long, value_name = "DIR")]
        layers: Option<PathBuf>,
        /// Worker threads.
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
        /// Samples per batch.
        #[arg(long, default_value_t = 256, value_parser = at_least_one)]
        batch_size: usize,
        #[arg(long = "model")]
        model_name: Option<String>,
        #[command(flatten)]
        passes: PassArgs,
    },
    /// Train or fine-tune a model on an MNIST-style dataset (IDX files, gzipped or not, or
    /// `.npy` pairs), with straight-through estimators through quantizers.
    Train {
        model: PathBuf,
        /// The dataset directory (`train-images-idx3-ubyte[.gz]`, … or `x_train.npy`, …).
        #[arg(long)]
        data: PathBuf,
        /// Where to write the trained weights (after every epoch).
        #[arg(short, long)]
        output: PathBuf,
        /// Start from these weights (fine-tuning); otherwise Keras's initialisers.
        #[arg(long)]
        weights: Option<PathBuf>,
        #[arg(long, default_value_t = 5, value_parser = at_least_one)]
        epochs: usize,
        #[arg(long, default_value_t = 128, value_parser = at_least_one)]
        batch_size: usize,
        /// Learning rate (default 0.001 for Adam, 0.01 for SGD).
        #[arg(long)]
        lr: Option<f32>,
        #[arg(long, value_enum, default_value_t = commands::train::OptimizerKind::Adam)]
        optimizer: commands::train::OptimizerKind,
        /// SGD momentum.
        #[arg(long, default_value_t = 0.9)]
        momentum: f64,
        /// How the learning rate changes over the run.
        #[arg(long, value_enum, default_value_t = qnnc::backend::cpu::train::Schedule::Constant)]
        schedule: qnnc::backend::cpu::train::Schedule,
        /// Seed of the initial weights, the shuffling and dropout.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Worker threads (the same seed and thread count give the same weights).
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
        /// Do not measure the test accuracy after each epoch.
        #[arg(long)]
        no_validation: bool,
        /// Continue from the checkpoint (`--checkpoint`) where an earlier run stopped; the
        /// result is the same, bit for bit, as an uninterrupted run with the same options.
        #[arg(long)]
        resume: bool,
        /// The checkpoint written after every epoch (default: OUTPUT with `.ckpt.npz`, e.g.
        /// `w.npz` → `w.ckpt.npz`).
        #[arg(long, value_name = "PATH")]
        checkpoint: Option<PathBuf>,
        #[arg(long = "model")]
        model_name: Option<String>,
        #[command(flatten)]
        passes: PassArgs,
    },
    /// Accuracy of a model and its weights on the test split of a dataset.
    Eval {
        model: PathBuf,
        #[arg(long)]
        weights: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
        #[arg(long = "model")]
        model_name: Option<String>,
        #[command(flatten)]
        passes: PassArgs,
    },
    /// Compile a quantized model and its float weights into an NSoC integer program (`.nsoc`).
    Compile {
        model: PathBuf,
        #[arg(long)]
        weights: PathBuf,
        /// The program to write.
        #[arg(short, long)]
        output: PathBuf,
        /// `software` (the integer simulator; AKD1000 rules only warn) or `akd1000` (a model
        /// that would not map is refused and nothing is written).
        #[arg(long, value_enum, default_value_t = TargetArg::Software)]
        target: TargetArg,
        #[arg(long = "model")]
        model_name: Option<String>,
        #[command(flatten)]
        passes: PassArgs,
    },
    /// Run an NSoC program on uint8 images with the bit-exact integer simulator.
    Run {
        /// The `.nsoc` program.
        program: PathBuf,
        /// The images: a `.npy` of uint8, (batch, height, width, channels) or one image.
        #[arg(long, required_unless_present = "data", conflicts_with = "data")]
        input: Option<PathBuf>,
        /// Where to write the output `.npy`: int32 potentials (Akida `forward`), or uint8
        /// levels when the last layer has an activation.
        #[arg(short, long, required_unless_present = "data", conflicts_with = "data")]
        output: Option<PathBuf>,
        /// Output `(potentials − threshold) / act_step` as float32 (Akida `predict`).
        #[arg(long)]
        dequantize: bool,
        /// Also write every layer's integer output to this directory (`L<k>_<name>.npy`).
        #[arg(long, value_name = "DIR", conflicts_with = "data")]
        layers: Option<PathBuf>,
        /// Instead of `--input`: run the test split of this MNIST-style IDX directory and
        /// print the program's accuracy (the class is the largest output).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
    /// Compare the quantized CPU executor with the integer program, layer by layer.
    Diff {
        model: PathBuf,
        #[arg(long)]
        weights: PathBuf,
        /// uint8 images (`.npy`).
        #[arg(long)]
        input: PathBuf,
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
        #[arg(long = "model")]
        model_name: Option<String>,
        #[command(flatten)]
        passes: PassArgs,
    },
    /// Show what an NSoC program holds, layer by layer.
    Inspect {
        program: PathBuf,
        #[arg(long, value_enum, default_value_t = commands::inspect::InspectFormat::Text)]
        format: commands::inspect::InspectFormat,
    },
    /// Write a program in a form another runtime loads: `--akida OUT.json` for BrainChip's
    /// akida package (`akida.model_from_json`, or `python -m qnnc_akida build OUT.json` for an
    /// `.fbz`)
    Export {
        /// The `.nsoc` program written by `qnnc compile`.
        program: PathBuf,
        /// Where to write the akida 2.19 model JSON.
        #[arg(long, value_name = "OUT.json")]
        akida: PathBuf,
    },
    /// The whole flow on the shipped example and MNIST: float training, quantization (4/4/8)
    /// and fine-tuning, compilation for the AKD1000, and the integer program on the test set.
    Demo {
        /// The model (the CNN2SNN tutorial's toy model).
        #[arg(long, default_value = "examples/toy.q")]
        model: PathBuf,
        #[arg(long, default_value = "examples/data/mnist")]
        data: PathBuf,
        /// Where the weights and the program are written.
        #[arg(long, default_value = "demo-out")]
        out: PathBuf,
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
        #[arg(long, default_value_t = 5)]
        float_epochs: usize,
        #[arg(long, default_value_t = 2)]
        tune_epochs: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Measure training, prediction and integer-inference speed against BrainChip's flow.
    Bench {
        /// The MNIST-style dataset to train on.
        #[arg(long, default_value = "examples/data/mnist")]
        data: PathBuf,
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
        /// Repetitions of every measurement, training epochs included (the best is kept).
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// Show a quantized activation's step function (step, threshold, levels), and plot it
    /// beside the float ReLU it replaces.
    Activation {
        /// The activation as written in a model, e.g. `"quantized_relu(bits: 4, max_value: 6)"`.
        spec: String,
        /// The figure (`.svg` or `.png`).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Lowest input plotted.
        #[arg(long, default_value_t = -1.0, allow_hyphen_values = true)]
        from: f32,
        /// Highest input plotted.
        #[arg(long, default_value_t = 8.0)]
        to: f32,
        /// Print the output for these inputs (computed in f32, as CNN2SNN does).
        #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
        at: Vec<f32>,
    },
    /// Write initial weights with Keras' default initialisers (glorot-uniform kernels, zero
    /// biases, batch norm gamma 1, beta 0, moving mean 0, moving variance 1).
    Init {
        model: PathBuf,
        /// The `.npz` to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Random seed (same seed, same weights).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long = "model")]
        model_name: Option<String>,
    },
    /// Print the Keras-style table of a model: layers, output shapes, parameter counts.
    Summary {
        model: PathBuf,
        /// The model to show when the file defines several.
        #[arg(long = "model")]
        model_name: Option<String>,
        /// Also report the resources of the converted model on this chip (`akd1000`).
        #[arg(long, value_enum)]
        target: Option<TargetArg>,
        #[command(flatten)]
        passes: PassArgs,
    },
    /// Rewrite `.q` files in canonical form (comments are kept).
    Fmt {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Only check: exit 1 and list the files that are not formatted.
        #[arg(long)]
        check: bool,
        /// Print the formatted text instead of rewriting the file.
        #[arg(long, conflicts_with = "check")]
        stdout: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let common = Common {
        message_format: cli.message_format,
    };
    // The budget: the flag, else a valid `QNNC_MEMORY_BUDGET`, else a quarter of the RAM. A
    // malformed variable is a usage error, reported before any work.
    match cli.memory_budget {
        Some(bytes) => qnnc::io::budget::set_limit(bytes),
        None => match qnnc::io::budget::limit() {
            Ok(bytes) => qnnc::io::budget::set_limit(bytes),
            Err(e) => {
                let e = CliError::Usage {
                    message: e.cause().to_string(),
                    help: e.help_text().map(str::to_string),
                };
                return report(&e, &common);
            }
        },
    }
    let result = match cli.command {
        Command::Check {
            model,
            weights,
            model_name,
            target,
            passes,
        } => commands::check::run(
            &commands::check::CheckOptions {
                model,
                model_name,
                weights,
                target: target.map(Into::into),
                passes: passes.options(),
            },
            &common,
        ),
        Command::Quantize {
            model,
            weights,
            output,
            model_name,
            passes,
        } => commands::quantize::run(
            &commands::quantize::QuantizeOptions {
                model,
                model_name,
                weights,
                output,
                passes: passes.options(),
                dump: passes.dump(),
            },
            &common,
        ),
        Command::Hist {
            model,
            weights,
            layer,
            variable,
            quantizer,
            output,
            bins,
            model_name,
            passes,
        } => commands::hist::run(
            &commands::hist::HistOptions {
                model,
                model_name,
                weights,
                layer,
                variable,
                quantizer,
                output,
                bins: bins as usize,
                passes: passes.options(),
            },
            &common,
        ),
        Command::Predict {
            model,
            weights,
            input,
            output,
            logits,
            layers,
            threads,
            batch_size,
            model_name,
            passes,
        } => commands::predict::run(
            &commands::predict::PredictOptions {
                model,
                model_name,
                weights,
                input,
                output,
                logits,
                layers,
                threads,
                batch_size,
                passes: passes.options(),
                dump: passes.dump(),
            },
            &common,
        ),
        Command::Train {
            model,
            data,
            output,
            weights,
            epochs,
            batch_size,
            lr,
            optimizer,
            momentum,
            schedule,
            seed,
            threads,
            no_validation,
            resume,
            checkpoint,
            model_name,
            passes,
        } => commands::train::train(
            &commands::train::TrainOptions {
                model,
                model_name,
                data,
                output,
                weights,
                epochs,
                batch_size,
                learning_rate: lr,
                optimizer,
                schedule,
                momentum,
                seed,
                threads,
                no_validation,
                resume,
                checkpoint,
                passes: passes.options(),
                dump: passes.dump(),
            },
            &common,
        )
        .map(|_| ()),
        Command::Eval {
            model,
            weights,
            data,
            threads,
            model_name,
            passes,
        } => commands::train::eval(
            &commands::train::EvalOptions {
                model,
                model_name,
                weights,
                data,
                threads,
                passes: passes.options(),
                dump: passes.dump(),
            },
            &common,
        )
        .map(|_| ()),
        Command::Compile {
            model,
            weights,
            output,
            target,
            model_name,
            passes,
        } => commands::compile::run(
            &commands::compile::CompileOptions {
                model,
                model_name,
                weights,
                output,
                target: target.into(),
                passes: passes.options(),
                dump: passes.dump(),
            },
            &common,
        ),
        Command::Run {
            program,
            input,
            output,
            dequantize,
            layers,
            data,
        } => match (data, input, output) {
            (Some(data), _, _) => commands::run::accuracy(&program, &data).map(|_| ()),
            (None, Some(input), Some(output)) => commands::run::run(&commands::run::RunOptions {
                program,
                input,
                output,
                dequantize,
                layers,
            }),
            _ => unreachable!("clap requires --input and --output without --data"),
        },
        Command::Diff {
            model,
            weights,
            input,
            threads,
            model_name,
            passes,
        } => commands::diff::run(
            &commands::diff::DiffOptions {
                model,
                model_name,
                weights,
                input,
                threads,
                passes: passes.options(),
            },
            &common,
        ),
        Command::Inspect { program, format } => commands::inspect::run(&program, format),
        Command::Export { program, akida } => commands::export::run(&program, &akida),
        Command::Demo {
            model,
            data,
            out,
            threads,
            float_epochs,
            tune_epochs,
            seed,
        } => commands::demo::run(
            &commands::demo::DemoOptions {
                model,
                data,
                out,
                threads,
                float_epochs,
                tune_epochs,
                seed,
            },
            &common,
        ),
        Command::Bench {
            data,
            threads,
            repeat,
        } => commands::bench::run(&commands::bench::BenchOptions {
            data,
            threads,
            repeat,
        }),
        Command::Activation {
            spec,
            output,
            from,
            to,
            at,
        } => commands::activation::run(&commands::activation::ActivationOptions {
            spec,
            output,
            range: (from, to),
            at,
        }),
        Command::Init {
            model,
            output,
            seed,
            model_name,
        } => commands::init::run(
            &commands::init::InitOptions {
                model,
                model_name,
                output,
                seed,
            },
            &common,
        ),
        Command::Summary {
            model,
            model_name,
            target,
            passes,
        } => commands::summary::run(
            &commands::summary::SummaryOptions {
                model,
                model_name,
                target: target == Some(TargetArg::Akd1000),
                passes: passes.options(),
            },
            &common,
        ),
        Command::Fmt {
            files,
            check,
            stdout,
        } => commands::fmt::run(
            &commands::fmt::FmtOptions {
                files,
                check,
                stdout,
            },
            &common,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e, &common),
    }
}

fn report(e: &CliError, common: &Common) -> ExitCode {
    if !matches!(e, CliError::Reported(_)) {
        let text = driver::render_cli_error(e, common.render_options());
        if common.message_format == MessageFormat::Json {
            print!("{text}");
        } else {
            eprint!("{text}");
        }
    }
    ExitCode::from(e.exit_code())
}
