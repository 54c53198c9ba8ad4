//! Which lines of a Rust source are code: a line is *code* when it holds a character
//! outside comments that is not white space, or lies (even partly) inside a string or
//! character literal. Blank lines and lines holding only comments (`//`, `///`, `//!`,
//! `/* */` nested as Rust nests them, doc comments alike) are not. This is tokei's
//! definition of a code line, so its totals can be checked against tokei's.
//!
//! A small lexer of its own, not the parser's tokens: doc comments reach the parser as
//! `#[doc]` attributes, and a comment leaves no token to see.

/// For each line of `src` (1-based: index 0 is line 1), whether it is a code line.
pub fn code_lines(src: &str) -> Vec<bool> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Code,
        LineComment,
        /// Nesting depth of `/* */`.
        Block(u32),
        /// A `"…"` string (escapes honoured).
        Str,
        /// A raw string closed by `"` and this many `#`.
        Raw(usize),
    }
    let chars: Vec<char> = src.chars().collect();
    let mut lines = vec![false];
    let mut state = State::Code;
    let mut i = 0;
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let here = lines.len() - 1;
        if c == '\n' {
            if matches!(state, State::Str | State::Raw(_)) {
                lines[here] = true;
            }
            if state == State::LineComment {
                state = State::Code;
            }
            lines.push(false);
            i += 1;
            continue;
        }
        match state {
            State::LineComment => {}
            State::Block(depth) => {
                if c == '*' && next == Some('/') {
                    state = if depth == 1 {
                        State::Code
                    } else {
                        State::Block(depth - 1)
                    };
                    i += 1;
                } else if c == '/' && next == Some('*') {
                    state = State::Block(depth + 1);
                    i += 1;
                }
            }
            State::Str => {
                lines[here] = true;
                if c == '\\' {
                    // the escaped character (a newline too: a string continued)
                    if next == Some('\n') {
                        i += 1;
                        continue;
                    }
                    i += 1;
                } else if c == '"' {
                    state = State::Code;
                }
            }
            State::Raw(hashes) => {
                lines[here] = true;
                if c == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                    state = State::Code;
                    i += hashes;
                }
            }
            State::Code => {
                if c == '/' && next == Some('/') {
                    state = State::LineComment;
                    i += 1;
                } else if c == '/' && next == Some('*') {
                    state = State::Block(1);
                    i += 1;
                } else if c.is_whitespace() {
                } else {
                    lines[here] = true;
                    let prev = i.checked_sub(1).map(|p| chars[p]);
                    if c == '"' {
                        state = State::Str;
                    } else if c == 'r' && {
                        let before = i.checked_sub(2).map(|p| chars[p]);
                        !prev.is_some_and(ident) || prev == Some('b') && !before.is_some_and(ident)
                    } {
                        // r"…", r#"…"#, br"…": count the hashes, then the quote
                        let mut k = i + 1;
                        while chars.get(k) == Some(&'#') {
                            k += 1;
                        }
                        if chars.get(k) == Some(&'"') {
                            state = State::Raw(k - i - 1);
                            i = k;
                        }
                    } else if c == '\'' {
                        // a character literal ('a', '\n', '\u{1F600}') or a lifetime ('a)
                        if next == Some('\\') {
                            let mut k = i + 2;
                            while k < chars.len() && chars[k] != '\'' && chars[k] != '\n' {
                                k += 1;
                            }
                            i = k;
                        } else if chars.get(i + 2) == Some(&'\'') {
                            i += 2;
                        }
                    }
                }
            }
        }
        i += 1;
    }
    // A final newline does not open a line of its own.
    if src.ends_with('\n') {
        lines.pop();
    }
    lines
}

/// The number of code lines among lines `first..=last` (1-based, inclusive).
pub fn count(code: &[bool], first: usize, last: usize) -> u32 {
    if first == 0 || first > last {
        return 0;
    }
    let end = last.min(code.len());
    code.get(first - 1..end)
        .map_or(0, |s| s.iter().filter(|&&b| b).count() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn which(src: &str) -> Vec<usize> {
        code_lines(src)
            .iter()
            .enumerate()
            .filter(|(_, &b)| b)
            .map(|(i, _)| i + 1)
            .collect()
    }

    #[test]
    fn blank_and_comment_lines_are_not_code() {
        let src =
            "fn f() {\n\n    // a comment\n    /// doc\n    let x = 1; // trailing\n   \t\n}\n";
        assert_eq!(code_lines(src).len(), 7);
        assert_eq!(which(src), [1, 5, 7]);
    }

    #[test]
    fn block_comments_nest_and_code_after_them_counts() {
        let src = "/* one\n /* two */\n still */\n/* x */ let y = 2;\n/*\n*/\n";
        assert_eq!(which(src), [4]);
    }

    #[test]
    fn strings_hide_comment_markers_and_span_lines() {
        // line 1: a string holding //; lines 2-4: a string over three lines (the blank
        // line inside counts); line 5: a raw string with "# and /* inside; line 6: a
        // lifetime and a char literal with a quote, then a comment
        let src = "let a = \"// not a comment\";\nlet b = \"x\n\ny\";\nlet c = r#\"\"/*\"#;\nfn g<'a>(c: char) -> bool { c == '\\'' } // c\n// end\n";
        assert_eq!(which(src), [1, 2, 3, 4, 5, 6]);
        let src = "let q = '\"'; // \"\n// still a comment\n";
        assert_eq!(which(src), [1]);
    }

    #[test]
    fn counts_in_a_range() {
        let code = code_lines("a\n\nb\n// c\nd\n");
        assert_eq!(count(&code, 1, 5), 3);
        assert_eq!(count(&code, 2, 4), 1);
        assert_eq!(count(&code, 4, 99), 1);
        assert_eq!(count(&code, 0, 3), 0);
    }
}
