//! Figures: weight histograms (`qnnc hist`) and activation step functions (`qnnc step`),
//! drawn with plotters into SVG or PNG.
//!
//! Text is laid out with the DejaVu Sans font embedded in the binary (no system fonts, no
//! fontconfig); SVG figures carry it as text, PNG figures as pixels. Figures are rendered in memory and written
//! atomically.

use crate::io::IoError;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

/// The figure's file type, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "svg" => Some(Format::Svg),
            "png" => Some(Format::Png),
            _ => None,
        }
    }
}

/// A histogram: equal-width bins over `[lo, hi]`.
#[derive(Clone, Debug)]
pub struct Histogram {
    pub lo: f32,
    pub hi: f32,
    pub counts: Vec<u64>,
}

impl Histogram {
    /// `bins` bins over `[lo, hi]`; values outside are ignored, `hi` falls in the last bin.
    pub fn new(values: &[f32], lo: f32, hi: f32, bins: usize) -> Histogram {
        assert!(bins > 0, "a histogram has at least one bin");
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, lo + 0.5)
        };
        let mut counts = vec![0u64; bins];
        let width = (hi - lo) / bins as f32;
        for &v in values {
            if !(lo..=hi).contains(&v) {
                continue;
            }
            let b = (((v - lo) / width) as usize).min(bins - 1);
            counts[b] += 1;
        }
        Histogram { lo, hi, counts }
    }

    fn bin_width(&self) -> f32 {
        (self.hi - self.lo) / self.counts.len() as f32
    }
}

/// One panel of a figure: a title and a histogram.
pub struct Panel {
    pub title: String,
    pub hist: Histogram,
    pub color: RGBColor,
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            include_bytes!("../assets/fonts/DejaVuSans.ttf"),
        )
        .unwrap_or_else(|_| panic!("the embedded DejaVu Sans font is a valid TrueType font"));
    });
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw_panels<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    panels: &[Panel],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    let areas = root.split_evenly((1, panels.len()));
    for (area, panel) in areas.iter().zip(panels) {
        let h = &panel.hist;
        let top = h.counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.05;
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(h.lo as f64..h.hi as f64, 0f64..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("weight value")
            .y_desc("count")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style(("sans-serif", 12))
            .draw()?;
        let w = h.bin_width() as f64;
        chart.draw_series(
            h.counts
                .iter()
                .enumerate()
                .filter(|(_, &c)| c > 0)
                .map(|(i, &c)| {
                    let x0 = h.lo as f64 + i as f64 * w;
                    Rectangle::new([(x0, 0.0), (x0 + w, c as f64)], panel.color.filled())
                }),
        )?;
    }
    root.present()?;
    Ok(())
}

/// Renders panels side by side under a title and writes them to `path` (SVG or PNG).
pub fn write_panels(
    path: &Path,
    format: Format,
    title: &str,
    panels: &[Panel],
) -> Result<(), IoError> {
    let size = (520 * panels.len() as u32, 420);
    let bytes = match format {
        Format::Svg => {
            register_font();
            let mut s = String::new();
            {
                let root = SVGBackend::with_string(&mut s, size).into_drawing_area();
                draw_panels(root, title, panels).map_err(|e| draw_error(path, e))?;
            }
            s.into_bytes()
        }
        Format::Png => {
            register_font();
            let mut rgb = vec![0u8; (size.0 * size.1 * 3) as usize];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
                draw_panels(root, title, panels).map_err(|e| draw_error(path, e))?;
            }
            encode_png(&rgb, size).map_err(|e| draw_error(path, e))?
        }
    };
    crate::io::write_atomic(path, |w| std::io::Write::write_all(w, &bytes))
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_image_data(rgb)?;
    }
    Ok(out)
}

fn draw_error(path: &Path, e: Box<dyn std::error::Error>) -> IoError {
    IoError::new(
        crate::io::ErrorKind::Os,
        format!("could not draw the figure: {e}"),
    )
    .at(path)
}

/// One line of a line plot: its legend, colour and points.
pub type Series = (String, RGBColor, Vec<(f32, f32)>);

/// A line plot of `y(x)` (the step function of a quantized activation), with an optional
/// reference line (the float ReLU).
pub fn write_lines(
    path: &Path,
    format: Format,
    title: &str,
    x_desc: &str,
    series: &[Series],
) -> Result<(), IoError> {
    let size = (720, 480);
    let draw =
        |root: DrawingArea<_, Shift>| -> DrawResult { draw_lines(root, title, x_desc, series) };
    let bytes = match format {
        Format::Svg => {
            register_font();
            let mut s = String::new();
            {
                let root = SVGBackend::with_string(&mut s, size).into_drawing_area();
                draw_lines(root, title, x_desc, series).map_err(|e| draw_error(path, e))?;
            }
            s.into_bytes()
        }
        Format::Png => {
            register_font();
            let mut rgb = vec![0u8; (size.0 * size.1 * 3) as usize];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
                draw(root).map_err(|e| draw_error(path, e))?;
            }
            encode_png(&rgb, size).map_err(|e| draw_error(path, e))?
        }
    };
    crate::io::write_atomic(path, |w| std::io::Write::write_all(w, &bytes))
}

fn draw_lines<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    x_desc: &str,
    series: &[Series],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let all = series.iter().flat_map(|s| s.2.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, 0f32, f32::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(
            x0 as f64..x1 as f64,
            y0 as f64..(y1 as f64 * 1.08).max(1e-6),
        )?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("output")
        .label_style(("sans-serif", 13))
        .draw()?;
    for (name, color, points) in series {
        let color = *color;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|&(x, y)| (x as f64, y as f64)),
                color.stroke_width(2),
            ))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}
