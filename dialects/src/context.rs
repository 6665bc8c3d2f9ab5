//! Context creation: upstream dialects plus fuser's IRDL dialects.

use melior::{
    Context,
    dialect::DialectRegistry,
    ir::{Location, Module},
    utility::{load_irdl_dialects, register_all_dialects, register_all_llvm_translations, register_all_passes},
};

/// The IRDL definitions, compiled into the binary so a tool needs no data files.
pub const IRDL_SOURCES: [(&str, &str); 4] = [
    ("graph", include_str!("../irdl/graph.mlir")),
    ("ftensor", include_str!("../irdl/ftensor.mlir")),
    ("hw", include_str!("../irdl/hw.mlir")),
    ("cann", include_str!("../irdl/cann.mlir")),
];

/// Why fuser's dialects could not be loaded into a context.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the IRDL definition of the `{0}` dialect does not parse")]
    Parse(&'static str),
    #[error("the IRDL definition of the `{0}` dialect was rejected by MLIR")]
    Load(&'static str),
}

/// Loads fuser's dialects (graph, ftensor, hw, cann) into an existing context. Call it
/// once per context; the context may come from another compiler that embeds fuser.
pub fn load_fuser_dialects(context: &Context) -> Result<(), LoadError> {
    for (name, source) in IRDL_SOURCES {
        let module = Module::parse(context, source).ok_or(LoadError::Parse(name))?;
        if !load_irdl_dialects(&module) {
            return Err(LoadError::Load(name));
        }
    }
    Ok(())
}

/// Registers every upstream dialect and the LLVM IR translations into `context`, and
/// every upstream pass in MLIR's global registry (without which no upstream pass name
/// resolves in a textual pipeline).
pub fn register_upstream(context: &Context) {
    register_all_passes();
    let registry = DialectRegistry::new();
    register_all_dialects(&registry);
    context.append_dialect_registry(&registry);
    context.load_all_available_dialects();
    register_all_llvm_translations(context);
}

/// A context with all upstream dialects and fuser's dialects, as the tools use.
pub fn create_context() -> Result<Context, LoadError> {
    let context = Context::new();
    register_upstream(&context);
    load_fuser_dialects(&context)?;
    Ok(context)
}

/// A location that names a file position, for tests and builders.
pub fn file_location<'c>(context: &'c Context, file: &str, line: usize, column: usize) -> Location<'c> {
    Location::new(context, file, line, column)
}
