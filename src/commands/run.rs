//! `qnnc run`: the integer simulator on uint8 inputs — the last layer's potentials (Akida
//! `forward`), or dequantized (Akida `predict`), and optionally every layer's output; or, with
//! `--data`, the program's accuracy on a labelled test split.

use super::inspect::read_program;
use super::{argmax, CliError};
use crate::backend::nsoc::{LayerOutput, Simulator};
use crate::io::{Array, ErrorKind, IoError};
use std::path::{Path, PathBuf};

/// `qnnc run`.
#[derive(clap::Args, Clone, Debug)]
pub struct RunArgs {
    /// The `.nsoc` program.
    pub program: PathBuf,
    /// The images: a `.npy` of uint8, (batch, height, width, channels) or one image.
    #[arg(long, required_unless_present = "data", conflicts_with = "data")]
    pub input: Option<PathBuf>,
    /// Where to write the output `.npy`: int32 potentials (Akida `forward`), or uint8
    /// levels when the last layer has an activation.
    #[arg(short, long, required_unless_present = "data", conflicts_with = "data")]
    pub output: Option<PathBuf>,
    /// Output `(potentials − threshold) / act_step` as float32 (Akida `predict`).
    #[arg(long)]
    pub dequantize: bool,
    /// Also write every layer's integer output to this directory (`L<k>_<name>.npy`).
    #[arg(long, value_name = "DIR", conflicts_with = "data")]
    pub layers: Option<PathBuf>,
    /// Instead of `--input`: run the test split of this MNIST-style IDX directory and
    /// print the program's accuracy (the class is the largest output, the first on ties).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

pub fn main(args: &RunArgs) -> Result<(), CliError> {
    match (&args.data, &args.input, &args.output) {
        (Some(data), _, _) => accuracy(&args.program, data).map(|_| ()),
        (None, Some(input), Some(output)) => run(args, input, output),
        _ => unreachable!("clap requires --input and --output without --data"),
    }
}

fn run(opts: &RunArgs, input_path: &Path, output: &Path) -> Result<(), CliError> {
    crate::io::check_output(output, &[&opts.program, input_path])?;
    if let Some(dir) = &opts.layers {
        super::check_layers_dir(dir)?;
    }
    let program = read_program(&opts.program)?;
    let sim = Simulator::new(&program)?;
    let input = load_input(input_path, &sim)?;
    super::memory::check_program(&program, input.shape()[0], opts.layers.is_some())?;
    let outputs = if opts.layers.is_some() {
        sim.run_all(input.view())?
    } else {
        vec![sim.run(input.view())?]
    };
    if let Some(dir) = &opts.layers {
        for (k, (out, layer)) in outputs.iter().zip(&program.layers).enumerate() {
            let path = dir.join(format!("L{k}_{}.npy", layer.name));
            crate::io::write_npy(&path, &to_array(out))?;
        }
    }
    let last = outputs.last().expect("a program has at least one layer");
    let result = if opts.dequantize {
        let LayerOutput::Potentials(p) = last else {
            return Err(CliError::Usage {
                message: format!(
                    "the last layer `{}` has an activation, so there are no potentials to dequantize",
                    program.layers.last().expect("non-empty").name
                ),
                help: Some("drop `--dequantize`: the output is activation levels".to_string()),
            });
        };
        Array::F32(sim.dequantize(p.view())?.into_dyn())
    } else {
        to_array(last)
    };
    crate::io::write_npy(output, &result)?;
    println!(
        "ran `{}` on {} image(s) → `{}` {:?}",
        program.model_name,
        input.shape()[0],
        output.display(),
        result.shape()
    );
    Ok(())
}

/// Runs `program` on the test split of the IDX directory `data` and prints its accuracy: the
/// class of an image is the output (potential or level) with the largest value, the first on
/// ties.
pub fn accuracy(program: &Path, data: &Path) -> Result<f64, CliError> {
    let prog = read_program(program)?;
    let sim = Simulator::new(&prog)?;
    let data = crate::io::load_dataset(data)?;
    let split = &data.test;
    let (images, labels) = (&split.images, &split.labels);
    super::memory::check_program(&prog, labels.len(), false)?;
    let classes = prog.layers.last().map_or(0, |l| {
        usize::try_from(l.output_dims.elements()).unwrap_or(usize::MAX)
    });
    split.check_labels(classes, "test", &format!("program `{}`", prog.model_name))?;
    let (_, h, w, c) = images.dim();
    let d = prog.input;
    if [h, w, c] != [d.height, d.width, d.channels].map(|v| v as usize) {
        return Err(IoError::new(
            ErrorKind::WrongShape,
            format!(
                "the test images are {h}×{w}×{c}, but program `{}` takes {}×{}×{}",
                prog.model_name, d.height, d.width, d.channels
            ),
        )
        .at(&split.images_path)
        .with_help(format!(
            "give images of the size `{}` was compiled for",
            program.display()
        ))
        .into());
    }
    let input = sim
        .input_from(images.view().into_dyn())
        .map_err(|e| CliError::input(&split.images_path, e))?;
    let start = std::time::Instant::now();
    let scores: Vec<i64> = match sim.run(input.view())? {
        LayerOutput::Potentials(p) => p.iter().map(|&v| i64::from(v)).collect(),
        LayerOutput::Levels(l) => l.iter().map(|&v| i64::from(v)).collect(),
    };
    let seconds = start.elapsed().as_secs_f64();
    let n = labels.len();
    let classes = scores.len() / n.max(1);
    let correct = scores
        .chunks(classes.max(1))
        .zip(labels)
        .filter(|(row, &label)| argmax(row) == label as usize)
        .count();
    let acc = correct as f64 / n.max(1) as f64;
    println!(
        "`{}` on {n} test images: accuracy {:.2}% ({correct} correct), {:.0} images/s",
        prog.model_name,
        100.0 * acc,
        n as f64 / seconds.max(1e-9)
    );
    Ok(acc)
}

fn to_array(out: &LayerOutput) -> Array {
    match out {
        LayerOutput::Levels(l) => Array::U8(l.clone().into_dyn()),
        LayerOutput::Potentials(p) => Array::I32(p.clone().into_dyn()),
    }
}

/// Reads a `.npy` of uint8 images (or integers in 0..=255).
fn load_input(path: &Path, sim: &Simulator) -> Result<ndarray::Array4<u8>, CliError> {
    let array = crate::io::read_npy(path)?;
    let converted = match &array {
        Array::U8(a) => sim.input_from(a.view()),
        Array::I8(a) => sim.input_from(a.view()),
        Array::I16(a) => sim.input_from(a.view()),
        Array::U16(a) => sim.input_from(a.view()),
        Array::I32(a) => sim.input_from(a.view()),
        Array::U32(a) => sim.input_from(a.view()),
        Array::I64(a) => sim.input_from(a.view()),
        other => {
            return Err(IoError::new(
                crate::io::ErrorKind::WrongDtype,
                format!(
                    "the program takes uint8 images, found {} values",
                    other.dtype().name()
                ),
            )
            .at(path)
            .with_help("integer inputs are `x_u8 = scale · x + offset`; convert floats before running the program")
            .into())
        }
    };
    converted.map_err(|e| CliError::input(path, e))
}
