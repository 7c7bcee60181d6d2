//! The abstract syntax tree of a `.q` file: the text's structure, nothing resolved.
//!
//! Every node carries the [`Span`] of the text it came from. Spans are skipped when a tree is
//! serialized, so a RON dump of the tree (and [`File::same_tree`]) compares structure only:
//! reformatting a file does not change it.

use crate::source::Span;
use serde::Serialize;

/// A parsed file: its items in source order, and its comments (kept for `qnnc fmt`).
#[derive(Clone, Debug, Serialize)]
pub struct File {
    pub items: Vec<Item>,
    #[serde(skip)]
    pub comments: Vec<Comment>,
    /// Where the text ends, trailing whitespace left out (where "end of file" points).
    #[serde(skip)]
    pub len: u32,
}

impl File {
    /// The models of the file, in source order.
    pub fn models(&self) -> impl Iterator<Item = &ModelDef> {
        self.items.iter().filter_map(|i| match i {
            Item::Model(m) => Some(m),
            Item::Quantizer(_) => None,
        })
    }

    /// Whether two trees are the same up to spans and comments.
    pub fn same_tree(&self, other: &File) -> bool {
        self.to_ron() == other.to_ron()
    }

    /// The tree as pretty RON, without spans (for dumps and golden files).
    pub fn to_ron(&self) -> String {
        let config = ron::ser::PrettyConfig::new().indentor("  ".to_string());
        ron::ser::to_string_pretty(self, config).expect("an AST always serializes")
    }
}

/// A top-level item.
#[derive(Clone, Debug, Serialize)]
pub enum Item {
    Quantizer(QuantizerDef),
    Model(ModelDef),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Quantizer(q) => q.span,
            Item::Model(m) => m.span,
        }
    }
}

/// `quantizer NAME = CALL`
#[derive(Clone, Debug, Serialize)]
pub struct QuantizerDef {
    pub name: Ident,
    pub call: Call,
    #[serde(skip)]
    pub span: Span,
}

/// `model NAME { STATEMENTS }`
#[derive(Clone, Debug, Serialize)]
pub struct ModelDef {
    pub name: Ident,
    pub statements: Vec<Statement>,
    #[serde(skip)]
    pub span: Span,
    /// The opening brace: a comment on its line belongs to the model header.
    #[serde(skip)]
    pub open: Span,
    /// The closing brace, where comments after the last statement belong.
    #[serde(skip)]
    pub close: Span,
}

/// `NAME = CALL` or a bare `CALL` inside a model.
#[derive(Clone, Debug, Serialize)]
pub struct Statement {
    pub name: Option<Ident>,
    pub call: Call,
    #[serde(skip)]
    pub span: Span,
}

/// `NAME(ARGS)`: a layer, a quantizer, or a nested call inside an argument.
#[derive(Clone, Debug, Serialize)]
pub struct Call {
    pub callee: Ident,
    pub args: Vec<Arg>,
    #[serde(skip)]
    pub span: Span,
}

impl Call {
    /// The keyword argument `key`, if given (the first one, when duplicated).
    pub fn keyword(&self, key: &str) -> Option<&Arg> {
        self.args
            .iter()
            .find(|a| a.key.as_ref().is_some_and(|k| k.name == key))
    }
}

/// A positional (`key == None`) or keyword argument.
#[derive(Clone, Debug, Serialize)]
pub struct Arg {
    pub key: Option<Ident>,
    pub value: Expr,
    #[serde(skip)]
    pub span: Span,
}

/// A name as written, with its span.
#[derive(Clone, Debug, Serialize)]
pub struct Ident {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
}

/// An expression: a value of an argument.
#[derive(Clone, Debug, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub enum ExprKind {
    /// A number literal; `text` is kept as written so the formatter does not change it.
    Number {
        value: f64,
        text: String,
    },
    Bool(bool),
    /// A bare identifier: an enumeration value (`same`), a quantizer, or a formula variable.
    Ident(String),
    List(Vec<Expr>),
    Call(Call),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

/// An arithmetic operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }

    /// Binding strength: `*` and `/` bind tighter than `+` and `-`.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Add | BinOp::Sub => 1,
            BinOp::Mul | BinOp::Div => 2,
        }
    }
}

/// A comment, `// …` or `/* … */`, exactly as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    pub text: String,
    pub span: Span,
}
