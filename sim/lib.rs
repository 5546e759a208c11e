pub use presim_engine as engine;
