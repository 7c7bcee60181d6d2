//! `qnnc run`: the integer simulator on uint8 inputs — the last layer's potentials (Akida
//! `forward`), or dequantized (Akida `predict`), and optionally every layer's output; or, with
//! `--data`, the program's accuracy on a labelled test split.

use super::inspect::read_program;
use crate::backend::nsoc::{LayerOutput, Simulator};
use crate::driver::CliError;
use crate::io::{Array, ErrorKind, IoError};
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub program: PathBuf,
    pub input: PathBuf,
    pub output: PathBuf,
    pub dequantize: bool,
    /// Write every layer's integer output here as `L<k>_<name>.npy`.
    pub layers: Option<PathBuf>,
}

pub fn run(opts: &RunOptions) -> Result<(), CliError> {
    crate::io::check_output(&opts.output, &[&opts.program, &opts.input])?;
    if let Some(dir) = &opts.layers {
        super::check_layers_dir(dir)?;
    }
    let program = read_program(&opts.program)?;
    let sim = Simulator::new(&program).map_err(sim_error)?;
    let input = load_input(&opts.input, &sim)?;
    super::memory::check_program(&program, input.shape()[0], opts.layers.is_some())?;
    let outputs = if opts.layers.is_some() {
        sim.run_all(input.view()).map_err(sim_error)?
    } else {
        vec![sim.run(input.view()).map_err(sim_error)?]
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
        Array::F32(sim.dequantize(p.view()).map_err(sim_error)?.into_dyn())
    } else {
        to_array(last)
    };
    crate::io::write_npy(&opts.output, &result)?;
    println!(
        "ran `{}` on {} image(s) → `{}` {:?}",
        program.model_name,
        input.shape()[0],
        opts.output.display(),
        result.shape()
    );
    Ok(())
}

/// Runs `program` on the test split of the IDX directory `data` and prints its accuracy: the
/// class of an image is the output (potential or level) with the largest value, the first on
/// ties.
pub fn accuracy(program: &std::path::Path, data: &std::path::Path) -> Result<f64, CliError> {
    let prog = read_program(program)?;
    let sim = Simulator::new(&prog).map_err(sim_error)?;
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
        .map_err(sim_error)?;
    let start = std::time::Instant::now();
    let scores: Vec<i64> = match sim.run(input.view()).map_err(sim_error)? {
        LayerOutput::Potentials(p) => p.iter().map(|&v| i64::from(v)).collect(),
        LayerOutput::Levels(l) => l.iter().map(|&v| i64::from(v)).collect(),
    };
    let seconds = start.elapsed().as_secs_f64();
    let n = labels.len();
    let classes = scores.len() / n.max(1);
    let correct = scores
        .chunks(classes.max(1))
        .zip(labels)
        .filter(|(row, &label)| {
            let best = row
                .iter()
                .enumerate()
                .fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
            best == label as usize
        })
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

fn sim_error(e: crate::backend::nsoc::SimError) -> CliError {
    CliError::Io {
        message: e.to_string(),
        help: None,
    }
}

/// Reads a `.npy` of uint8 images (or integers in 0..=255).
fn load_input(path: &std::path::Path, sim: &Simulator) -> Result<ndarray::Array4<u8>, CliError> {
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
    converted.map_err(|e| CliError::Io {
        message: format!("`{}`: {e}", path.display()),
        help: None,
    })
}
