//! `machine profiles`: the layers a project can list, built-in and the user's own.

use super::Ctx;
use crate::compiler::layers::{LayerKind, Origin};
use crate::error::Result;

/// List the profiles (and the standard layers) with one line each.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args, ctx: &mut Ctx<'_>) -> Result<()> {
    let catalog = ctx.catalog()?;
    for (name, why) in catalog.broken_profiles() {
        let why = super::diagnostics_text(why);
        ctx.ui.warn(&format!("profile `{name}` does not load, so it is not listed:\n{why}"));
    }
    let rows: Vec<(&str, &str, String, &str)> = catalog
        .layers()
        .into_iter()
        .map(|l| {
            let kind = match l.kind {
                LayerKind::Core => "core",
                LayerKind::Standard => "standard",
                LayerKind::Profile | LayerKind::Image => "profile",
            };
            let origin = match &l.origin {
                Origin::Builtin => "built-in".to_string(),
                Origin::User(p) => p.display().to_string(),
            };
            (l.name.as_str(), kind, origin, l.header.description.as_str())
        })
        .collect();
    if args.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(name, kind, origin, d)| serde_json::json!({"name": name, "kind": kind, "origin": origin, "description": d}))
            .collect();
        ctx.ui.data(&format!("{:#}", serde_json::json!({ "layers": list, "images": catalog.image_names() })));
        return Ok(());
    }
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (name, kind, origin, description) in &rows {
        let user = if origin == "built-in" { String::new() } else { format!("  [{origin}]") };
        out.push_str(&format!("{name:width$}  {kind:8}  {description}{user}\n"));
    }
    out.push_str(&format!("\nimages: {}\n", catalog.image_names().join(", ")));
    ctx.ui.data(out.trim_end());
    Ok(())
}
