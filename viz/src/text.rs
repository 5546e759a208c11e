//! Text in PNG charts. plotters' bitmap text places each glyph's pixels at
//! the pen position without the glyph's left side bearing, so letters with
//! a large bearing sit too far left and words look unevenly spaced
//! ("stal e", "1997 82"). [`GlyphBackend`] wraps the bitmap backend and sets
//! text itself with ab_glyph: each glyph rasterized at its fractional pen
//! position, bearing and kerning included. Its text box (width, height,
//! and the baseline half the font size below the box's top) is the one
//! plotters lays text out with, so anchors and the layout of the charts do
//! not move; everything else is the bitmap backend's own drawing.
//!
//! Every text of a chart is set in the embedded font (`style::FONT`).

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, ScaleFont};
use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

use crate::style;

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| {
        // The font is a constant of the crate, checked by its tests.
        FontRef::try_from_slice(style::FONT).expect("the embedded font parses")
    })
}

/// The box of a text laid out at `positions` ([`pen_positions`]) at
/// `size` pixels, as plotters lays it out: the advances and kerning of its
/// glyphs wide, `size / 1.24` high.
fn text_box(positions: &[(char, f32)], size: f32) -> (i32, i32) {
    let scaled = font().as_scaled(size);
    let width = positions
        .last()
        .map_or(0.0, |&(c, x)| x + scaled.h_advance(scaled.glyph_id(c)));
    (width as i32, (size / 1.24) as i32)
}

/// The width in pixels of `text` set at `size` pixels, as plotters lays
/// it out (the width of [`text_box`]), for layouts made before a chart
/// has an area to measure with.
pub(crate) fn width(text: &str, size: f32) -> u32 {
    text_box(&pen_positions(text, size), size).0.max(0) as u32
}

/// Each character of `text` with the pen position where its glyph starts.
fn pen_positions(text: &str, size: f32) -> Vec<(char, f32)> {
    let scaled = font().as_scaled(size);
    let mut pen = 0.0;
    let mut previous = None;
    text.chars()
        .map(|c| {
            let id = scaled.glyph_id(c);
            if let Some(p) = previous {
                pen += scaled.kern(p, id);
            }
            let at = (c, pen);
            pen += scaled.h_advance(id);
            previous = Some(id);
            at
        })
        .collect()
}

/// Calls `plot(x, y, coverage)` for every pixel the glyphs at
/// `positions` cover, relative to the top left of the text's box.
fn rasterize<E>(
    positions: &[(char, f32)],
    size: f32,
    mut plot: impl FnMut(i32, i32, f32) -> Result<(), E>,
) -> Result<(), E> {
    let scaled = font().as_scaled(size);
    for &(c, pen) in positions {
        let glyph = scaled
            .glyph_id(c)
            .with_scale_and_position(size, ab_glyph::point(pen, size / 2.0));
        let Some(outline) = font().outline_glyph(glyph) else {
            continue; // a space
        };
        let bounds = outline.px_bounds();
        let (left, top) = (bounds.min.x as i32, bounds.min.y as i32);
        let mut pixels = Vec::new();
        outline.draw(|x, y, coverage| pixels.push((x as i32, y as i32, coverage)));
        for (x, y, coverage) in pixels {
            plot(left + x, top + y, coverage)?;
        }
    }
    Ok(())
}

/// The bitmap backend with text set by [`rasterize`].
pub struct GlyphBackend<'a>(pub BitMapBackend<'a>);

type Error<'a> = DrawingErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>;

impl<'a> DrawingBackend for GlyphBackend<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), Error<'a>> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), Error<'a>> {
        self.0.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), Error<'a>> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), Error<'a>> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), Error<'a>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        (iw, ih): (u32, u32),
        src: &[u8],
    ) -> Result<(), Error<'a>> {
        self.0.blit_bitmap(pos, (iw, ih), src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), Error<'a>> {
        let size = style.size() as f32;
        let (width, height) = text_box(&pen_positions(text, size), size);
        Ok((width.max(0) as u32, height.max(0) as u32))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), Error<'a>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let size = style.size() as f32;
        let positions = pen_positions(text, size);
        let (width, height) = text_box(&positions, size);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let (w, h) = self.get_size();
        rasterize(&positions, size, |x, y, coverage| {
            let (x, y) = transform.transform(x + dx, y + dy);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && x < w as i32 && y >= 0 && y < h as i32 {
                self.0.draw_pixel((x, y), color.mix(f64::from(coverage)))
            } else {
                Ok(())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns a text's pixels cover, left to right, as runs.
    fn inked_columns(text: &str, size: f32) -> Vec<(i32, i32)> {
        let mut columns = std::collections::BTreeSet::new();
        rasterize::<()>(&pen_positions(text, size), size, |x, _, coverage| {
            if coverage > 0.25 {
                columns.insert(x);
            }
            Ok(())
        })
        .unwrap();
        let mut runs: Vec<(i32, i32)> = Vec::new();
        for x in columns {
            match runs.last_mut() {
                Some((_, end)) if *end + 1 == x => *end = x,
                _ => runs.push((x, x)),
            }
        }
        runs
    }

    #[test]
    fn glyphs_are_drawn_at_their_pen_position_plus_their_bearing() {
        // plotters' own text drew a glyph's first column at the pen
        // position, whatever the glyph's left side bearing.
        let size = 40.0;
        let scaled = font().as_scaled(size);
        let bearing = scaled.h_side_bearing(scaled.glyph_id('l'));
        assert!(bearing > 2.0, "{bearing}");
        for text in ["l", "7l", "ml", "1l"] {
            let pen = pen_positions(text, size).last().unwrap().1;
            let runs = inked_columns(text, size);
            let start = runs.last().unwrap().0 as f32;
            assert!((start - (pen + bearing)).abs() <= 1.0, "{text}: {runs:?}");
        }
    }

    #[test]
    fn the_box_is_plotters_layout() {
        // Widths are the sum of advances and kerning; height size / 1.24.
        let (w, h) = text_box(&pen_positions("stale time", 15.0), 15.0);
        assert_eq!(h, 12);
        let scaled = font().as_scaled(15.0);
        let advances: f32 = "stale time"
            .chars()
            .map(|c| scaled.h_advance(scaled.glyph_id(c)))
            .sum();
        assert!((w as f32 - advances).abs() <= 1.0, "{w} {advances}");
        assert_eq!(text_box(&[], 15.0), (0, 12));
    }
}
