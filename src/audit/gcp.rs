//! TODO
use super::model::Model;
use super::parse::Context;
use crate::diag::{Diagnostic, SourceFile};

pub fn parse(file: &SourceFile, _ctx: &Context) -> Result<Model, Diagnostic> {
    Err(Diagnostic::error("not yet").in_file(file))
}
