//! The op tables generated from the IRDL files by `build.rs`.

/// How many values an operand or result slot takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    Single,
    Optional,
    Variadic,
}

/// The kind of an attribute, from its IRDL `irdl.base` constraint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrKind {
    /// `array<i64: ...>` (`#builtin.dense_array`).
    I64Array,
    /// An integer attribute; graph ops use `i64`.
    Integer,
    /// A float attribute; graph ops use `f32`.
    Float,
    /// A string attribute.
    String,
    /// `dense<...>` elements.
    DenseElements,
    /// A symbol reference such as `@kernel`.
    SymbolRef,
    /// An array of attributes, `[...]`.
    Array,
}

impl AttrKind {
    /// How the attribute is written, for diagnostics and docs.
    pub fn describe(self) -> &'static str {
        match self {
            AttrKind::I64Array => "array<i64: ...>",
            AttrKind::Integer => "integer (i64)",
            AttrKind::Float => "float (f32)",
            AttrKind::String => "string",
            AttrKind::DenseElements => "dense<...> elements",
            AttrKind::SymbolRef => "symbol reference",
            AttrKind::Array => "array [...]",
        }
    }
}

/// One operand or result slot.
#[derive(Debug)]
pub struct SlotSpec {
    pub name: &'static str,
    pub arity: Arity,
    /// The IRDL base type, e.g. `!builtin.tensor`.
    pub base: &'static str,
}

/// One declared attribute.
#[derive(Debug)]
pub struct AttrSpec {
    pub name: &'static str,
    pub kind: AttrKind,
}

/// One op as declared in IRDL.
#[derive(Debug)]
pub struct OpSpec {
    pub dialect: &'static str,
    /// The op name without the dialect prefix.
    pub name: &'static str,
    /// The comment above the op in the IRDL file.
    pub doc: &'static str,
    pub operands: &'static [SlotSpec],
    pub results: &'static [SlotSpec],
    pub attributes: &'static [AttrSpec],
}

impl OpSpec {
    /// `dialect.name`.
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.dialect, self.name)
    }

    /// Whether the operands need an `operandSegmentSizes` attribute (more than one
    /// optional or variadic group, as MLIR requires).
    pub fn needs_operand_segments(&self) -> bool {
        self.operands.iter().filter(|s| s.arity != Arity::Single).count() > 1
    }

    /// Whether the results need a `resultSegmentSizes` attribute.
    pub fn needs_result_segments(&self) -> bool {
        self.results.iter().filter(|s| s.arity != Arity::Single).count() > 1
    }

    pub fn attribute(&self, name: &str) -> Option<&'static AttrSpec> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

include!(concat!(env!("OUT_DIR"), "/op_specs.rs"));

/// All op tables, one per dialect, in dependency order.
pub const DIALECT_TABLES: [(&str, &[OpSpec]); 4] = [
    ("graph", GRAPH_OPS),
    ("ftensor", FTENSOR_OPS),
    ("hw", HW_OPS),
    ("cann", CANN_OPS),
];

/// Looks up an op of one of fuser's dialects by its full name (`graph.conv`).
pub fn find_op(full_name: &str) -> Option<&'static OpSpec> {
    let (dialect, name) = full_name.split_once('.')?;
    DIALECT_TABLES
        .iter()
        .find(|(d, _)| *d == dialect)?
        .1
        .iter()
        .find(|op| op.name == name)
}
