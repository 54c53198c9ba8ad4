//! Nothing: this package only names the corpus's crates (see Cargo.toml).
