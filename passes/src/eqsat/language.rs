//! The e-graph language: graph ops by name, their attribute dictionaries and missing
//! optional operands as leaves, the function's opaque values (arguments, constants,
//! weights, results of ops the e-graph does not model) as leaves, and fused kernels.
//!
//! An `Op` has one child per operand slot of its IRDL spec (an `absent` leaf where an
//! optional operand is missing), then one `attrs#K` leaf when the spec declares
//! attributes. So `(relu ?x)`, `(add ?a ?b)` and `(conv ?x ?w ?b ?attrs)` are patterns.

use egg::{Id, Symbol, define_language};
use std::{fmt, str::FromStr};

macro_rules! table_key {
    ($name:ident, $prefix:literal) => {
        #[doc = concat!("An index into one of the analysis's tables, written `", $prefix, "#N`.")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);

        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                s.strip_prefix(concat!($prefix, "#"))
                    .and_then(|n| n.parse().ok())
                    .map($name)
                    .ok_or(())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, concat!($prefix, "#{}"), self.0)
            }
        }
    };
}

table_key!(AttrsKey, "attrs");
table_key!(LeafKey, "value");
table_key!(BodyKey, "fused");

// One e-node: `absent` (a missing optional operand), `attrs#K` (an op's attribute
// dictionary), `value#K` (a value the e-graph takes as given), `fused#K(inputs...)` (a
// fused kernel: its body is in the analysis's table, its children are the values it
// reads), or a graph op by name without the `graph.` prefix.
define_language! {
    pub enum GraphLang {
        "absent" = Absent,
        Attrs(AttrsKey),
        Leaf(LeafKey),
        Fused(BodyKey, Vec<Id>),
        Op(Symbol, Vec<Id>),
    }
}
