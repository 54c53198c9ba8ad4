//! The metrics of one function, exactly as the README defines them (section "Assess",
//! "Metrics"):
//!
//! - `lines`: from the line of the first token after the attributes and doc comments
//!   (the visibility, or else the signature) to the line of the body's closing brace;
//! - `code_lines`: the code lines ([`super::lines`]) among those;
//! - `statements`: every `syn::Stmt` in the body and in every block nested in it
//!   (closures included), a tail expression too, except items declared there;
//! - `parameters`: the inputs of the signature, `self` included;
//! - `depth`: the deepest nesting of blocks, the body being 1 (every `{ … }` that is a
//!   block: branches, loop bodies, `unsafe`/`async`/labelled blocks, braced closures and
//!   match arms; an `else if` is not a deeper block);
//! - `complexity`: 1 + each `if` (an `else if` is another `if`; `if let` too), `while`
//!   (`while let` too), `for`, `loop`, `&&`, `||`, `?`, and every match arm beyond the
//!   first of each `match`.
//!
//! Macro arguments are not parsed (`println!("{}", a && b)` is one statement and adds
//! nothing) and items declared inside a body (a nested `fn`, an `impl`) are units of
//! their own, not part of the function around them.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::visit::{self, Visit};

/// The metrics of one function.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Metrics {
    /// Lines spanned.
    pub lines: u32,
    /// Lines that are neither blank nor only comment.
    pub code_lines: u32,
    /// Statements, nested blocks included.
    pub statements: u32,
    /// Parameters, `self` included.
    pub parameters: u32,
    /// Maximum nesting depth of blocks (the body is 1).
    pub depth: u32,
    /// Cyclomatic complexity.
    pub complexity: u32,
    /// Tokens of signature and body (each punctuation character one, each delimiter
    /// pair two): the size the duplicate finder compares.
    pub tokens: u32,
}

/// The names of the metrics, in the order [`Metrics::values`] gives them.
pub const NAMES: [&str; 7] = [
    "lines",
    "code-lines",
    "statements",
    "parameters",
    "depth",
    "complexity",
    "tokens",
];

impl Metrics {
    /// The metrics in the order of [`NAMES`].
    pub fn values(&self) -> [u32; 7] {
        [
            self.lines,
            self.code_lines,
            self.statements,
            self.parameters,
            self.depth,
            self.complexity,
            self.tokens,
        ]
    }
}

/// A function's metrics and the fingerprint of its tokens.
pub struct Measured {
    /// Its metrics.
    pub metrics: Metrics,
    /// The first line (see `lines`).
    pub line: u32,
    /// Two independent 64-bit hashes of its token stream (signature and body, without
    /// attributes, comments or spacing).
    pub fingerprint: [u64; 2],
}

/// Measure a function given its visibility, signature and body; `code` is the file's
/// code-line map.
pub fn measure(
    vis: &syn::Visibility,
    sig: &syn::Signature,
    body: &syn::Block,
    code: &[bool],
) -> Measured {
    let first = first_line(vis.to_token_stream())
        .or_else(|| first_line(sig.to_token_stream()))
        .unwrap_or(1);
    let last = body.brace_token.span.close().end().line.max(first);
    let mut walk = Walk {
        statements: 0,
        depth: 0,
        max_depth: 0,
        complexity: 1,
    };
    walk.visit_block(body);
    let mut stream = sig.to_token_stream();
    body.to_tokens(&mut stream);
    let mut tokens = 0;
    let mut fp = Fingerprint::new();
    fingerprint(stream, &mut fp, &mut tokens);
    Measured {
        metrics: Metrics {
            lines: (last - first + 1) as u32,
            code_lines: super::lines::count(code, first, last),
            statements: walk.statements,
            parameters: sig.inputs.len() as u32,
            depth: walk.max_depth,
            complexity: walk.complexity,
            tokens,
        },
        line: first as u32,
        fingerprint: fp.finish(),
    }
}

fn first_line(ts: TokenStream) -> Option<usize> {
    ts.into_iter().next().map(|t| t.span().start().line)
}

/// The counting walk over a body; nested items are skipped.
struct Walk {
    statements: u32,
    depth: u32,
    max_depth: u32,
    complexity: u32,
}

impl<'ast> Visit<'ast> for Walk {
    fn visit_block(&mut self, b: &'ast syn::Block) {
        self.depth += 1;
        self.max_depth = self.max_depth.max(self.depth);
        visit::visit_block(self, b);
        self.depth -= 1;
    }

    fn visit_stmt(&mut self, s: &'ast syn::Stmt) {
        if !matches!(s, syn::Stmt::Item(_)) {
            self.statements += 1;
        }
        visit::visit_stmt(self, s);
    }

    fn visit_item(&mut self, _: &'ast syn::Item) {
        // an item declared in a body is a unit of its own
    }

    fn visit_expr_if(&mut self, e: &'ast syn::ExprIf) {
        self.complexity += 1;
        visit::visit_expr_if(self, e);
    }

    fn visit_expr_while(&mut self, e: &'ast syn::ExprWhile) {
        self.complexity += 1;
        visit::visit_expr_while(self, e);
    }

    fn visit_expr_for_loop(&mut self, e: &'ast syn::ExprForLoop) {
        self.complexity += 1;
        visit::visit_expr_for_loop(self, e);
    }

    fn visit_expr_loop(&mut self, e: &'ast syn::ExprLoop) {
        self.complexity += 1;
        visit::visit_expr_loop(self, e);
    }

    fn visit_expr_binary(&mut self, e: &'ast syn::ExprBinary) {
        if matches!(e.op, syn::BinOp::And(_) | syn::BinOp::Or(_)) {
            self.complexity += 1;
        }
        visit::visit_expr_binary(self, e);
    }

    fn visit_expr_try(&mut self, e: &'ast syn::ExprTry) {
        self.complexity += 1;
        visit::visit_expr_try(self, e);
    }

    fn visit_expr_match(&mut self, e: &'ast syn::ExprMatch) {
        self.complexity += e.arms.len().saturating_sub(1) as u32;
        visit::visit_expr_match(self, e);
    }
}

/// FNV-1a and SipHash (std's, fixed keys) side by side: 128 bits of fingerprint.
struct Fingerprint {
    fnv: u64,
    sip: std::hash::DefaultHasher,
}

impl Fingerprint {
    fn new() -> Fingerprint {
        Fingerprint {
            fnv: 0xcbf2_9ce4_8422_2325,
            sip: std::hash::DefaultHasher::new(),
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        use std::hash::Hasher;
        for &b in bytes {
            self.fnv = (self.fnv ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.sip.write(bytes);
        // a separator, so that `ab` `c` and `a` `bc` differ
        self.fnv = (self.fnv ^ 0xff).wrapping_mul(0x0100_0000_01b3);
        self.sip.write_u8(0xff);
    }

    fn finish(&self) -> [u64; 2] {
        use std::hash::Hasher;
        [self.fnv, self.sip.finish()]
    }
}

fn fingerprint(ts: TokenStream, fp: &mut Fingerprint, tokens: &mut u32) {
    for t in ts {
        match t {
            TokenTree::Group(g) => {
                *tokens += 2;
                let (open, close) = match g.delimiter() {
                    proc_macro2::Delimiter::Parenthesis => ("(", ")"),
                    proc_macro2::Delimiter::Brace => ("{", "}"),
                    proc_macro2::Delimiter::Bracket => ("[", "]"),
                    proc_macro2::Delimiter::None => ("\u{1}", "\u{2}"),
                };
                fp.write(open.as_bytes());
                fingerprint(g.stream(), fp, tokens);
                fp.write(close.as_bytes());
            }
            TokenTree::Ident(i) => {
                *tokens += 1;
                fp.write(i.to_string().as_bytes());
            }
            TokenTree::Punct(p) => {
                *tokens += 1;
                // not its spacing: `&&*x` and `&& *x` differ only there
                let mut buf = [0u8; 4];
                fp.write(p.as_char().encode_utf8(&mut buf).as_bytes());
            }
            TokenTree::Literal(l) => {
                *tokens += 1;
                fp.write(l.to_string().as_bytes());
            }
        }
    }
}
