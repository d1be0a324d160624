//! The repository's `templates/`, `provision/` and `files/`, embedded at build time.

include!(concat!(env!("OUT_DIR"), "/embedded_layers.rs"));
