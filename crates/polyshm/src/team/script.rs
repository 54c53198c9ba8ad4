//! Script blocks: Polycephaly sends a block as source text and the drones compile it.
//! Here the language is [rhai](https://rhai.rs) (behind the default-on cargo feature
//! `script`): `|a, b| a + b` is a rhai closure. Arguments and answers are any serde
//! values, turned into rhai values and back by rhai's serde support
//! (`rhai::serde::to_dynamic` / `from_dynamic`); between master and drone they travel
//! as [`Wire`] values (a private, self-describing form: postcard is not).

use serde::{Deserialize, Serialize};

/// A rhai value as it travels between master and drone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Wire {
    Unit,
    Bool(bool),
    Int(i64),
    Float(f64),
    Char(char),
    Str(String),
    Blob(Vec<u8>),
    Array(Vec<Wire>),
    Map(Vec<(String, Wire)>),
}

#[cfg(feature = "script")]
pub(crate) mod engine {
    use super::Wire;
    use crate::team::call::Task;
    use crate::team::tasks::Tasks;
    use crate::team::TeamError;
    use rhai::{Dynamic, Engine, FnPtr, AST};
    use serde::{de::DeserializeOwned, Serialize};
    use std::cell::RefCell;

    /// The request of the script task: block, index of the first row, rows (each an
    /// array of the block's arguments).
    pub(crate) type Request = (String, u64, Vec<Wire>);
    /// The script task's answer: one value per row, or what went wrong.
    pub(crate) type Answer = Result<Vec<Wire>, String>;
    /// The built-in task that runs script blocks.
    pub(crate) const TASK: Task<Request, Answer> = Task::builtin("polyshm.script");

    fn engine() -> Engine {
        let mut e = Engine::new();
        // A runaway block ends with an error instead of spinning for ever.
        e.set_max_operations(10_000_000_000);
        e
    }

    fn to_dynamic(v: Wire) -> Dynamic {
        match v {
            Wire::Unit => Dynamic::UNIT,
            Wire::Bool(b) => Dynamic::from_bool(b),
            Wire::Int(i) => Dynamic::from_int(i),
            Wire::Float(x) => Dynamic::from_float(x),
            Wire::Char(c) => Dynamic::from_char(c),
            Wire::Str(s) => Dynamic::from(s),
            Wire::Blob(b) => Dynamic::from_blob(b),
            Wire::Array(a) => Dynamic::from_array(a.into_iter().map(to_dynamic).collect()),
            Wire::Map(m) => Dynamic::from_map(
                m.into_iter()
                    .map(|(k, v)| (k.into(), to_dynamic(v)))
                    .collect(),
            ),
        }
    }

    fn from_dynamic(d: Dynamic) -> Result<Wire, String> {
        if d.is_unit() {
            Ok(Wire::Unit)
        } else if let Ok(b) = d.as_bool() {
            Ok(Wire::Bool(b))
        } else if let Ok(i) = d.as_int() {
            Ok(Wire::Int(i))
        } else if let Ok(x) = d.as_float() {
            Ok(Wire::Float(x))
        } else if let Ok(c) = d.as_char() {
            Ok(Wire::Char(c))
        } else if d.is_string() {
            Ok(Wire::Str(d.into_string().map_err(|t| t.to_string())?))
        } else if d.is_blob() {
            Ok(Wire::Blob(d.into_blob().map_err(|t| t.to_string())?))
        } else if d.is_array() {
            let a = d.into_array().map_err(|t| t.to_string())?;
            a.into_iter()
                .map(from_dynamic)
                .collect::<Result<_, _>>()
                .map(Wire::Array)
        } else if d.is_map() {
            let m = d.cast::<rhai::Map>();
            m.into_iter()
                .map(|(k, v)| Ok((k.to_string(), from_dynamic(v)?)))
                .collect::<Result<_, String>>()
                .map(Wire::Map)
        } else {
            Err(format!(
                "the block answered a {}, which cannot travel back (use numbers, booleans, strings, arrays, maps)",
                d.type_name()
            ))
        }
    }

    /// A serde value as it travels to a drone.
    pub(crate) fn to_wire<T: Serialize>(v: &T) -> Result<Wire, String> {
        let d = rhai::serde::to_dynamic(v).map_err(|e| format!("cannot pass a value: {e}"))?;
        from_dynamic(d)
    }

    /// A value back from a drone, as the serde type `R`.
    pub(crate) fn from_wire<R: DeserializeOwned>(w: Wire) -> Result<R, String> {
        let d = to_dynamic(w);
        rhai::serde::from_dynamic(&d).map_err(|e| {
            format!(
                "the answer {d} does not read as {}: {e}",
                std::any::type_name::<R>()
            )
        })
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

    fn run(block: String, first: u64, rows: Vec<Wire>) -> Result<Vec<Wire>, String> {
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            let (e, compiled) = &mut *c;
            if compiled.as_ref().is_none_or(|(b, _, _)| *b != block) {
                let (ast, f, _) = compile(e, &block)?;
                *compiled = Some((block, ast, f));
            }
            let (_, ast, f) = compiled.as_ref().expect("compiled above");
            rows.into_iter()
                .enumerate()
                .map(|(i, row)| {
                    let args: Vec<Dynamic> = match row {
                        Wire::Array(a) => a.into_iter().map(to_dynamic).collect(),
                        one => vec![to_dynamic(one)],
                    };
                    let r = f
                        .call::<Dynamic>(e, ast, args)
                        .map_err(|err| format!("failed on row {}: {err}", first + i as u64))?;
                    from_dynamic(r)
                })
                .collect()
        })
    }

    /// Add the script task to a registry.
    pub(crate) fn register(t: &mut Tasks) {
        t.task(TASK.name(), |(block, first, rows): Request| {
            run(block, first, rows)
        });
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn row(a: impl Serialize) -> Wire {
            to_wire(&a).unwrap()
        }

        #[test]
        fn runs_checks_and_reports() {
            let rows = vec![row((1i64, 5i64)), row((2i64, 0.5f64))];
            let out = run("|a, b| a + b".into(), 0, rows).unwrap();
            assert_eq!(out, [Wire::Int(6), Wire::Float(2.5)]);
            assert!(check_block("|a, b| a + b", 2).is_ok());
            let e = check_block("|a, b| a +", 2).unwrap_err().to_string();
            assert!(e.contains("does not compile"), "{e}");
            let e = check_block("|a| a", 2).unwrap_err().to_string();
            assert!(e.contains("takes 1 arguments"), "{e}");
            let e = run("|a, b| a / b".into(), 3, vec![row((1i64, 0i64))]).unwrap_err();
            assert!(e.contains("row 3"), "{e}");
        }

        /// Any serde value goes in and comes back: structs become rhai maps.
        #[test]
        fn serde_values_round_trip_through_a_block() {
            #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
            struct P {
                x: i64,
                name: String,
            }
            let p = P {
                x: 4,
                name: "p".into(),
            };
            let out = run(
                "|p| #{x: p.x * 2, name: p.name + \"!\"}".into(),
                0,
                vec![row((&p,))],
            )
            .unwrap();
            let back: P = from_wire(out.into_iter().next().unwrap()).unwrap();
            assert_eq!(
                back,
                P {
                    x: 8,
                    name: "p!".into()
                }
            );
            let v: Vec<f64> = from_wire(row(vec![1.5f64, 2.0])).unwrap();
            assert_eq!(v, [1.5, 2.0]);
            let e = from_wire::<i64>(Wire::Str("x".into())).unwrap_err();
            assert!(e.contains("does not read as i64"), "{e}");
        }
    }
}
