//! Generates the op reference `docs/dialects/<name>.md` from the IRDL-derived tables.

use crate::spec::{Arity, OpSpec};
use std::fmt::Write as _;

fn slot_list(slots: &[crate::spec::SlotSpec]) -> String {
    if slots.is_empty() {
        return "none".into();
    }
    slots
        .iter()
        .map(|s| match s.arity {
            Arity::Single => format!("`{}`", s.name),
            Arity::Optional => format!("`{}` (optional)", s.name),
            Arity::Variadic => format!("`{}` (variadic)", s.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The markdown reference of one dialect. `intro` is the hand-written preamble.
pub fn dialect_markdown(dialect: &str, intro: &str, ops: &[OpSpec]) -> String {
    let mut out = String::new();
    writeln!(out, "# The `{dialect}` dialect").unwrap();
    writeln!(out).unwrap();
    writeln!(out, "<!-- Generated from dialects/irdl/{dialect}.mlir by `FUSER_BLESS=1 cargo test -p fuser-dialects`; do not edit by hand. -->").unwrap();
    writeln!(out).unwrap();
    writeln!(out, "{}", intro.trim()).unwrap();
    writeln!(out).unwrap();
    writeln!(out, "| op | operands | results | attributes |").unwrap();
    writeln!(out, "|---|---|---|---|").unwrap();
    for op in ops {
        let attrs = if op.attributes.is_empty() {
            "none".to_string()
        } else {
            op.attributes
                .iter()
                .map(|a| format!("`{}`: {}", a.name, a.kind.describe()))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        writeln!(
            out,
            "| `{}.{}` | {} | {} | {} |",
            dialect,
            op.name,
            slot_list(op.operands),
            slot_list(op.results),
            attrs
        )
        .unwrap();
    }
    let documented: Vec<&OpSpec> = ops.iter().filter(|o| !o.doc.is_empty()).collect();
    if !documented.is_empty() {
        writeln!(out).unwrap();
        writeln!(out, "## Notes per op").unwrap();
        writeln!(out).unwrap();
        for op in documented {
            writeln!(out, "- `{}.{}`: {}", dialect, op.name, op.doc).unwrap();
        }
    }
    out
}

/// The preamble of each dialect's reference.
pub fn dialect_intro(dialect: &str) -> &'static str {
    match dialect {
        "graph" => include_str!("../doc-intros/graph.md"),
        "ftensor" => include_str!("../doc-intros/ftensor.md"),
        "hw" => include_str!("../doc-intros/hw.md"),
        "cann" => include_str!("../doc-intros/cann.md"),
        _ => "",
    }
}
