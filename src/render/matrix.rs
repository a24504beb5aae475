use anyhow::Result;
use crate::generate::Ctx;
use crate::output::OutFile;
pub fn render(_ctx: &Ctx<'_>) -> Result<Vec<OutFile>> { Ok(vec![]) }
