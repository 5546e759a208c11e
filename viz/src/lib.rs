//! Charts for presim, drawn with plotters: a timeline of intervals per lane
//! with marks and background bands, and the distribution of durations
//! (histogram and CDF). The crate knows nothing of XMPP: its callers map
//! their data to the plain types below, in seconds.
//!
//! Every chart is written twice, as SVG and as PNG, from the same drawing
//! code. Text is set in DejaVu Sans, embedded in the crate
//! (`fonts/DejaVuSans.ttf`, its licence beside it), so PNGs render the same
//! on every machine without a system font.

mod distribution;
mod style;
mod text;
mod timeline;

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

pub use distribution::{Distribution, Sample};
pub use timeline::{Band, Interval, Labels, Lane, Mark, MarkKind, Timeline, MAX_LANES};

/// Something went wrong writing a chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VizError {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for VizError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for VizError {}

/// A chart that can draw itself on any plotters backend.
pub trait Chart {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws the whole chart on `root`.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Writes `chart` to `stem.svg` and `stem.png` and returns both paths.
pub fn write<C: Chart>(chart: &C, stem: &Path) -> Result<Vec<PathBuf>, VizError> {
    style::register_font();
    let svg = stem.with_extension("svg");
    let png = stem.with_extension("png");
    let fail = |path: &Path| {
        let path = path.to_path_buf();
        move |message: String| VizError { path, message }
    };
    {
        let root = SVGBackend::new(&svg, chart.size()).into_drawing_area();
        chart.draw(&root).map_err(fail(&svg))?;
        root.present().map_err(|e| fail(&svg)(e.to_string()))?;
    }
    {
        let bitmap = BitMapBackend::new(&png, chart.size());
        let root = text::GlyphBackend(bitmap).into_drawing_area();
        chart.draw(&root).map_err(fail(&png))?;
        root.present().map_err(|e| fail(&png)(e.to_string()))?;
    }
    Ok(vec![svg, png])
}
