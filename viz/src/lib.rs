//! Charts for presim: draws intervals, marks, bands and distributions.
