//! Conditions: their syntax tree as written in a pack (`syntax`), their compiled, evaluable form
//! (`compiled`), the compiler between the two (`compiler`, with `values` converting operator
//! values to each field's type), and their specialisation to one event action (`specialize`).

mod compiled;
mod compiler;
mod specialize;
mod syntax;
mod values;

pub use compiled::{Cond, MacroMemo, Matcher, Test};
pub use compiler::{Compiler, ListDef, MacroDef};
pub use specialize::SpecializedMacros;
pub use syntax::{CondAst, Item, Op, OpAst, Scalar, TestAst, parse_condition};
pub(super) use values::parse_range;
