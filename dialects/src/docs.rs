//! Generates the op reference `docs/dialects/<name>.md` from the IRDL-derived tables.

use crate::spec::{Arity, OpSpec};
use std::fmt::Write as _;

fn slot_list(slots: &[crate::spec::SlotSpec]) -> String {
    if slots.is_empty() {
        return "none".into();
    }
    // A family `x_0` .. `x_N` (see irdl/graph.mlir) is shown as one entry.
    let mut shown: Vec<String> = Vec::new();
    let mut i = 0;
    while i < slots.len() {
        if let Some(base) = slots[i].name.strip_suffix("_0") {
            let len = slots[i..]
                .iter()
                .enumerate()
                .take_while(|(k, s)| s.name == format!("{base}_{k}"))
                .count();
            if len > 1 {
                shown.push(format!("`{base}_0` .. `{base}_{}` (1 to {len} values)", len - 1));
                i += len;
                continue;
            }
        }
        shown.push(describe_slot(&slots[i]));
        i += 1;
    }
    shown.join(", ")
}

fn describe_slot(s: &crate::spec::SlotSpec) -> String {
    match s.arity {
        Arity::Single => format!("`{}`", s.name),
        Arity::Optional => format!("`{}` (optional)", s.name),
        Arity::Variadic => format!("`{}` (variadic)", s.name),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::DIALECT_TABLES;

    /// `docs/dialects/<name>.md` must match the IRDL files. Regenerate with
    /// `FUSER_BLESS=1 cargo test -p fuser-dialects` (or `make docs`).
    #[test]
    fn dialects_doc_is_current() {
        let mut stale = Vec::new();
        for (dialect, ops) in DIALECT_TABLES {
            let path = format!("{}/../docs/dialects/{dialect}.md", env!("CARGO_MANIFEST_DIR"));
            let expected = dialect_markdown(dialect, dialect_intro(dialect), ops);
            if std::env::var_os("FUSER_BLESS").is_some() {
                std::fs::write(&path, &expected).unwrap();
            }
            if std::fs::read_to_string(&path).unwrap_or_default() != expected {
                stale.push(path);
            }
        }
        assert!(stale.is_empty(), "stale docs {stale:?}: run `make docs`");
    }
}
