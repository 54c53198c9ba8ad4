//! The metric definitions of the README, pinned on hand-written sources whose counts
//! were worked out by hand (each expected number says where it comes from).

use super::metrics::Metrics;
use super::units::{assess_source, FileReport};

fn only(src: &str) -> Metrics {
    let r = assess_source(src);
    assert_eq!(r.header.error, None);
    assert_eq!(r.functions.len(), 1, "{:?}", r.functions);
    r.functions[0].metrics
}

#[test]
fn lines_start_after_attributes_and_code_lines_skip_blanks_and_comments() {
    let src = "\
/// Doc.
#[inline]
pub fn f(a: u32,
         b: u32) -> u32 {
    // comment

    let c = a + b; /* trailing */
    /* block
       comment */
    c
}
";
    let m = only(src);
    assert_eq!(assess_source(src).functions[0].line, 3, "the line of `pub`");
    assert_eq!(m.lines, 9, "lines 3 to 11");
    assert_eq!(m.code_lines, 5, "lines 3, 4, 7, 10, 11");
    assert_eq!(m.statements, 2, "`let c` and the tail `c`");
    assert_eq!(m.parameters, 2);
    assert_eq!(m.depth, 1, "the body alone");
    assert_eq!(m.complexity, 1, "no branch");
    let h = assess_source(src).header;
    assert_eq!(
        (h.lines, h.code_lines),
        (11, 6),
        "the file: `#[inline]` is code too"
    );
}

#[test]
fn complexity_counts_every_branch_rule_and_nothing_in_macros() {
    let src = "\
fn g(x: Option<u32>, v: &[u32]) -> Result<u32, E> {
    let y = x?;
    if y > 1 && y < 5 || y == 9 {
        return Ok(1);
    } else if y == 2 {
        loop { break; }
    } else {
        for _ in v {}
    }
    while let Some(_) = x { break; }
    match y { 0 => {}, 1 | 2 => {}, _ => {} }
    let f = |a: u32| a > 0 && a < 3;
    println!(\"{}\", y > 0 && y < 2);
    Ok(y)
}
";
    let m = only(src);
    // 1 + `?` + if + && + || + else-if + loop + for + while + 2 arms beyond the first
    // + the closure's && (the macro's && is not parsed) = 12
    assert_eq!(m.complexity, 12);
    // body: let y, if, while, match, let f, println!, Ok(y) = 7; nested: return,
    // loop, break (in loop), for, break (in while) = 5
    assert_eq!(m.statements, 12);
    // body 1, branch 2, loop or for body inside a branch 3
    assert_eq!(m.depth, 3);
    assert_eq!(m.parameters, 2);
    assert_eq!((m.lines, m.code_lines), (15, 15));
}

#[test]
fn else_if_chains_are_one_if_each_and_not_deeper() {
    let m = only("fn h(a: bool, b: bool, c: bool) { if a {} else if b {} else if c {} else {} }");
    assert_eq!(m.complexity, 4, "1 + three ifs");
    assert_eq!(m.depth, 2, "every branch is one block below the body");
    assert_eq!(m.statements, 1, "the if chain");
    assert_eq!(m.lines, 1);
    let m = only("fn k(x: u8) -> u8 { match x { _ => 0 } }");
    assert_eq!(m.complexity, 1, "a match of one arm adds nothing");
    assert_eq!(m.depth, 1, "an arm without braces is no block");
    let m = only("fn w() { 'a: { unsafe { async { { } }; } } }");
    assert_eq!(m.depth, 5, "labelled, unsafe, async and plain blocks nest");
}

#[test]
fn units_and_functions_of_a_file() {
    let src = "\
struct S;
enum E { A }
union U { a: u32 }
trait T {
    fn req(&self);
    fn def(&self) -> u32 { 1 }
}
impl T for S {
    fn req(&self) {
        fn inner() {}
        let _c = || { 1 };
    }
}
impl<X> S2<X> { pub(crate) fn new(x: X, y: u8, z: u8) -> Self { S2::make(x, y, z) } }
mod m { pub fn free() {} }
";
    let r: FileReport = assess_source(src);
    let units: Vec<(&str, &str, u32)> = r
        .header
        .units
        .iter()
        .map(|u| (u.kind.as_str(), u.name.as_str(), u.line))
        .collect();
    assert_eq!(
        units,
        [
            ("struct", "S", 1),
            ("enum", "E", 2),
            ("union", "U", 3),
            ("trait", "T", 4),
            ("impl", "impl T for S", 8),
            ("impl", "impl S2<X>", 14),
        ]
    );
    // a trait method without a body is no function; `inner` is its own, outside the impl
    let fns: Vec<(&str, Option<u32>, u32)> = r
        .functions
        .iter()
        .map(|f| (f.name.as_str(), f.unit, f.line))
        .collect();
    assert_eq!(
        fns,
        [
            ("def", Some(3), 6),
            ("req", Some(4), 9),
            ("req::inner", None, 10),
            ("new", Some(5), 14),
            ("m::free", None, 15),
        ]
    );
    assert_eq!(r.header.functions, 5);
    let req = r.functions[1].metrics;
    // `self`; `let _c` and the closure's tail `1` (the nested fn is an item, not a
    // statement, and its body is not req's); the closure's block is depth 2
    assert_eq!((req.parameters, req.statements, req.depth), (1, 2, 2));
    assert_eq!((req.lines, req.code_lines), (4, 4));
    let new = r.functions[3].metrics;
    assert_eq!((new.parameters, new.statements, new.lines), (3, 1, 1));
}

#[test]
fn a_file_that_does_not_parse_is_reported_with_its_place() {
    let r = assess_source("fn fine() {}\n\nfn broken( {\n}\n");
    let e = r.header.error.expect("a parse error");
    assert_eq!(e.line, 3);
    assert!(!e.message.is_empty());
    assert!(r.functions.is_empty() && r.header.units.is_empty());
    assert_eq!(
        (r.header.lines, r.header.code_lines, r.header.functions),
        (4, 3, 0)
    );
}
