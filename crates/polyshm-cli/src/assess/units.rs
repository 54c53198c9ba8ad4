//! One file's units: its types (struct, enum, union, trait), impl blocks and functions
//! (free functions, inherent and trait-impl methods, trait methods with a default body;
//! closures belong to their function), found by walking the parsed file. Items in inline
//! modules and in function bodies are found too; their names carry the path of modules
//! and functions around them (`tests::helper`, `outer::inner`).
//!
//! A [`FileReport`] is what a drone sends back for a file, whole (`--granularity file`)
//! or as its [`FileHeader`] and one [`Function`] per message (`--granularity item`).

use std::path::Path;

use quote::ToTokens;
use serde::{Deserialize, Serialize};
use syn::visit::{self, Visit};

use super::metrics::{self, Metrics};

/// A container unit in a file: a type, a trait or an impl block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// `struct`, `enum`, `union`, `trait` or `impl`.
    pub kind: String,
    /// Its name with the path around it (`impl Display for Foo` for an impl block).
    pub name: String,
    /// The line of its name (of `impl` for an impl block).
    pub line: u32,
}

/// One function and its metrics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    /// Its name with the path of inline modules and functions around it.
    pub name: String,
    /// The index in [`FileHeader::units`] of its impl block or trait, if any.
    pub unit: Option<u32>,
    /// Its first line (of the visibility or signature, after attributes).
    pub line: u32,
    /// Its metrics.
    pub metrics: Metrics,
    /// 128 bits of fingerprint of its token stream (see [`metrics::Measured`]).
    pub fingerprint: [u64; 2],
}

/// Why a file could not be assessed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileError {
    /// Line of the error (0: the file could not be read).
    pub line: u32,
    /// Column of the error (1-based).
    pub column: u32,
    /// The parser's (or the file system's) message.
    pub message: String,
}

/// Everything about a file but its functions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHeader {
    /// Lines in the file.
    pub lines: u32,
    /// Code lines in the file.
    pub code_lines: u32,
    /// Its types, traits and impl blocks, in the order met.
    pub units: Vec<Unit>,
    /// How many functions it holds.
    pub functions: u32,
    /// Why it could not be parsed, if so (it then has no units nor functions).
    pub error: Option<FileError>,
}

/// A file assessed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReport {
    /// The file's header.
    pub header: FileHeader,
    /// Its functions, in the order met.
    pub functions: Vec<Function>,
}

/// Read and assess the file at `path`; a file that cannot be read or parsed gives a
/// report with its error, never an `Err`.
pub fn assess_path(path: &Path) -> FileReport {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(src) => assess_source(&src),
            Err(e) => failed(0, 0, format!("not UTF-8: {e}")),
        },
        Err(e) => failed(0, 0, format!("cannot read: {e}")),
    }
}

fn failed(line: u32, column: u32, message: String) -> FileReport {
    FileReport {
        header: FileHeader {
            error: Some(FileError {
                line,
                column,
                message,
            }),
            ..FileHeader::default()
        },
        functions: Vec::new(),
    }
}

/// Assess Rust source text.
pub fn assess_source(src: &str) -> FileReport {
    let code = super::lines::code_lines(src);
    let lines = code.len() as u32;
    let code_lines = code.iter().filter(|&&b| b).count() as u32;
    let file = match syn::parse_file(src) {
        Ok(f) => f,
        Err(e) => {
            let at = e.span().start();
            let mut r = failed(at.line as u32, at.column as u32 + 1, e.to_string());
            r.header.lines = lines;
            r.header.code_lines = code_lines;
            return r;
        }
    };
    let mut walk = Units {
        code: &code,
        prefix: Vec::new(),
        unit: None,
        units: Vec::new(),
        functions: Vec::new(),
    };
    walk.visit_file(&file);
    FileReport {
        header: FileHeader {
            lines,
            code_lines,
            functions: walk.functions.len() as u32,
            units: walk.units,
            error: None,
        },
        functions: walk.functions,
    }
}

struct Units<'a> {
    code: &'a [bool],
    /// Names of the inline modules and functions around the walk.
    prefix: Vec<String>,
    /// The impl block or trait around the walk.
    unit: Option<u32>,
    units: Vec<Unit>,
    functions: Vec<Function>,
}

impl Units<'_> {
    fn qualified(&self, name: &str) -> String {
        let mut s = self.prefix.join("::");
        if !s.is_empty() {
            s.push_str("::");
        }
        s.push_str(name);
        s
    }

    fn push_unit(&mut self, kind: &str, name: String, line: usize) -> u32 {
        let name = self.qualified(&name);
        self.units.push(Unit {
            kind: kind.into(),
            name,
            line: line as u32,
        });
        (self.units.len() - 1) as u32
    }

    /// Record a function, then walk its body for items declared there.
    fn function(
        &mut self,
        vis: &syn::Visibility,
        sig: &syn::Signature,
        body: &syn::Block,
        walk_body: impl FnOnce(&mut Self),
    ) {
        let m = metrics::measure(vis, sig, body, self.code);
        let name = sig.ident.to_string();
        self.functions.push(Function {
            name: self.qualified(&name),
            unit: self.unit,
            line: m.line,
            metrics: m.metrics,
            fingerprint: m.fingerprint,
        });
        let unit = self.unit.take();
        self.prefix.push(name);
        walk_body(self);
        self.prefix.pop();
        self.unit = unit;
    }
}

impl<'ast> Visit<'ast> for Units<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        self.prefix.push(m.ident.to_string());
        visit::visit_item_mod(self, m);
        self.prefix.pop();
    }

    fn visit_item_struct(&mut self, s: &'ast syn::ItemStruct) {
        self.push_unit("struct", s.ident.to_string(), s.ident.span().start().line);
        visit::visit_item_struct(self, s);
    }

    fn visit_item_enum(&mut self, e: &'ast syn::ItemEnum) {
        self.push_unit("enum", e.ident.to_string(), e.ident.span().start().line);
        visit::visit_item_enum(self, e);
    }

    fn visit_item_union(&mut self, u: &'ast syn::ItemUnion) {
        self.push_unit("union", u.ident.to_string(), u.ident.span().start().line);
        visit::visit_item_union(self, u);
    }

    fn visit_item_trait(&mut self, t: &'ast syn::ItemTrait) {
        let i = self.push_unit("trait", t.ident.to_string(), t.ident.span().start().line);
        let outer = self.unit.replace(i);
        visit::visit_item_trait(self, t);
        self.unit = outer;
    }

    fn visit_item_impl(&mut self, im: &'ast syn::ItemImpl) {
        let mut name = String::from("impl ");
        if let Some((bang, path, _)) = &im.trait_ {
            if bang.is_some() {
                name.push('!');
            }
            name.push_str(&tidy(path.to_token_stream()));
            name.push_str(" for ");
        }
        name.push_str(&tidy(im.self_ty.to_token_stream()));
        let i = self.push_unit("impl", name, im.impl_token.span.start().line);
        let outer = self.unit.replace(i);
        visit::visit_item_impl(self, im);
        self.unit = outer;
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.function(&f.vis, &f.sig, &f.block, |w| visit::visit_item_fn(w, f));
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.function(&f.vis, &f.sig, &f.block, |w| {
            visit::visit_impl_item_fn(w, f)
        });
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        match &f.default {
            Some(body) => self.function(&syn::Visibility::Inherited, &f.sig, body, |w| {
                visit::visit_trait_item_fn(w, f)
            }),
            None => visit::visit_trait_item_fn(self, f),
        }
    }
}

/// A type or path as text without the token printer's spaces: `Vec<T>`, `a::B`.
fn tidy(ts: proc_macro2::TokenStream) -> String {
    let s = ts.to_string();
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1).copied();
            let glue_after = matches!(prev, Some('<' | '&' | ':' | '(' | '[' | '\''));
            let glue_before = matches!(next, Some('<' | '>' | ',' | ':' | ')' | ']'));
            if glue_after || glue_before {
                continue;
            }
        }
        out.push(c);
    }
    out
}
