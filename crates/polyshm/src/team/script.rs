//! Script blocks: Polycephaly sends a block as source text and the drones compile it.
//! Here the language is [rhai](https://rhai.rs) (behind the default-on cargo feature
//! `script`): `|a, b| a + b` is a rhai closure. [`Value`] is what goes in and out.

use serde::{Deserialize, Serialize};

/// A value a script block takes or answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// Nothing (rhai's `()`).
    Unit,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A string.
    Str(String),
    /// An array of values.
    Array(Vec<Value>),
}

impl Value {
    /// Read a value as typed on a command line: an integer, a float, `true`/`false`,
    /// else a string.
    pub fn parse(s: &str) -> Value {
        let t = s.trim();
        if let Ok(i) = t.parse::<i64>() {
            Value::Int(i)
        } else if let Ok(f) = t.parse::<f64>() {
            Value::Float(f)
        } else if t == "true" || t == "false" {
            Value::Bool(t == "true")
        } else {
            Value::Str(t.to_string())
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.into())
    }
}

impl std::fmt::Display for Value {
    /// As the study prints arrays: `[6, 6, 6]`; floats keep a decimal point, strings
    /// are quoted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Unit => f.write_str("()"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// The built-in task that runs script blocks: `(block, index of the first row, rows)`
/// → each row's answer.
#[cfg(feature = "script")]
pub const TASK: &str = "polyshm.script";

#[cfg(feature = "script")]
pub use engine::check_block;
#[cfg(feature = "script")]
pub(crate) use engine::register;

#[cfg(feature = "script")]
mod engine {
    use super::{Value, TASK};
    use crate::team::{Tasks, TeamError};
    use rhai::{Dynamic, Engine, FnPtr, AST};
    use std::cell::RefCell;

    fn engine() -> Engine {
        let mut e = Engine::new();
        // A runaway block ends with an error instead of spinning for ever.
        e.set_max_operations(10_000_000_000);
        e
    }

    fn to_dynamic(v: &Value) -> Dynamic {
        match v {
            Value::Unit => Dynamic::UNIT,
            Value::Bool(b) => Dynamic::from_bool(*b),
            Value::Int(i) => Dynamic::from_int(*i),
            Value::Float(x) => Dynamic::from_float(*x),
            Value::Str(s) => Dynamic::from(s.clone()),
            Value::Array(a) => Dynamic::from_array(a.iter().map(to_dynamic).collect()),
        }
    }

    fn from_dynamic(d: Dynamic) -> Result<Value, String> {
        if d.is_unit() {
            Ok(Value::Unit)
        } else if let Ok(b) = d.as_bool() {
            Ok(Value::Bool(b))
        } else if let Ok(i) = d.as_int() {
            Ok(Value::Int(i))
        } else if let Ok(x) = d.as_float() {
            Ok(Value::Float(x))
        } else if d.is_string() {
            Ok(Value::Str(d.into_string().map_err(|t| t.to_string())?))
        } else if d.is_array() {
            let a = d.into_array().map_err(|t| t.to_string())?;
            a.into_iter()
                .map(from_dynamic)
                .collect::<Result<_, _>>()
                .map(Value::Array)
        } else {
            Err(format!(
                "the block answered a {}, which cannot travel back (use numbers, booleans, strings, arrays)",
                d.type_name()
            ))
        }
    }

    /// Compile a block and find its closure and the closure's parameter count.
    fn compile(e: &Engine, block: &str) -> Result<(AST, FnPtr, usize), String> {
        let ast = e
            .compile(block)
            .map_err(|err| format!("does not compile: {err}"))?;
        let f = e
            .eval_ast::<FnPtr>(&ast)
            .map_err(|err| format!("is not a closure like `|a, b| a + b`: {err}"))?;
        let arity = ast
            .iter_functions()
            .find(|m| m.name == f.fn_name())
            .map_or(0, |m| m.params.len());
        Ok((ast, f, arity))
    }

    /// Compile a block in this process and check that it is a closure taking
    /// `columns` arguments (the master does this before any drone works).
    pub fn check_block(block: &str, columns: usize) -> Result<(), TeamError> {
        let err = |message: String| TeamError::Script {
            block: block.into(),
            message,
        };
        let (_, _, arity) = compile(&engine(), block).map_err(err)?;
        if arity != columns {
            return Err(err(format!(
                "the block takes {arity} arguments, {columns} columns were given"
            )));
        }
        Ok(())
    }

    /// A drone's engine and the last block it compiled (source, AST, closure).
    type Cache = (Engine, Option<(String, AST, FnPtr)>);

    thread_local! {
        /// The drone's engine and its last compiled block.
        static CACHE: RefCell<Cache> = RefCell::new((engine(), None));
    }

    fn run(block: String, first: u64, rows: Vec<Vec<Value>>) -> Result<Vec<Value>, String> {
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            let (e, compiled) = &mut *c;
            if compiled.as_ref().is_none_or(|(b, _, _)| *b != block) {
                let (ast, f, _) = compile(e, &block)?;
                *compiled = Some((block, ast, f));
            }
            let (_, ast, f) = compiled.as_ref().expect("compiled above");
            rows.iter()
                .enumerate()
                .map(|(i, row)| {
                    let args: Vec<Dynamic> = row.iter().map(to_dynamic).collect();
                    let r = f
                        .call::<Dynamic>(e, ast, args)
                        .map_err(|err| format!("failed on row {}: {err}", first + i as u64))?;
                    from_dynamic(r)
                })
                .collect()
        })
    }

    /// Add the script task to a registry.
    pub(crate) fn register(t: Tasks) -> Tasks {
        t.task(
            TASK,
            |(block, first, rows): (String, u64, Vec<Vec<Value>>)| run(block, first, rows),
        )
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn runs_checks_and_reports() {
            let rows = vec![
                vec![Value::Int(1), Value::Int(5)],
                vec![Value::Int(2), Value::Float(0.5)],
            ];
            assert_eq!(
                run("|a, b| a + b".into(), 0, rows).unwrap(),
                [Value::Int(6), Value::Float(2.5)]
            );
            assert!(check_block("|a, b| a + b", 2).is_ok());
            let e = check_block("|a, b| a +", 2).unwrap_err().to_string();
            assert!(e.contains("does not compile"), "{e}");
            let e = check_block("|a| a", 2).unwrap_err().to_string();
            assert!(e.contains("takes 1 arguments"), "{e}");
            let e = run(
                "|a, b| a / b".into(),
                3,
                vec![vec![Value::Int(1), Value::Int(0)]],
            )
            .unwrap_err();
            assert!(e.contains("row 3"), "{e}");
            assert_eq!(
                Value::Array(vec![6.into(), 2.5.into(), "x".into()]).to_string(),
                "[6, 2.5, \"x\"]"
            );
            assert_eq!(Value::parse("3"), Value::Int(3));
            assert_eq!(Value::parse("3.5"), Value::Float(3.5));
            assert_eq!(Value::parse("abc"), Value::Str("abc".into()));
        }
    }
}
