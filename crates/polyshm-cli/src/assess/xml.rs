//! The XML export (schema in the README, section "Assess"): one element per unit with
//! its metrics as attributes, the duplicate groups at the end; written with quick-xml
//! (escaping included), indented by two spaces, in the assessment's sorted order.

use std::io::Write;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, Event};
use quick_xml::Writer;

use super::merge::{Aggregates, Assessment, FunctionOut};
use super::metrics::NAMES;

/// The assessment as XML.
pub fn to_xml(a: &Assessment) -> std::io::Result<Vec<u8>> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut root = BytesStart::new("assessment");
    root.push_attribute(("files", a.files.to_string().as_str()));
    root.push_attribute(("lines", a.lines.to_string().as_str()));
    root.push_attribute(("code-lines", a.code_lines.to_string().as_str()));
    root.push_attribute(("functions", a.functions.to_string().as_str()));
    root.push_attribute(("parse-errors", a.parse_errors.to_string().as_str()));
    root.push_attribute(("duplicate-groups", a.duplicates.len().to_string().as_str()));
    aggregates(&mut root, &a.aggregates);
    w.write_event(Event::Start(root))?;
    for c in &a.crates {
        let mut e = BytesStart::new("crate");
        e.push_attribute(("path", c.path.as_str()));
        e.push_attribute(("files", c.modules.len().to_string().as_str()));
        e.push_attribute(("lines", c.lines.to_string().as_str()));
        e.push_attribute(("code-lines", c.code_lines.to_string().as_str()));
        e.push_attribute(("functions", c.aggregates.count.to_string().as_str()));
        aggregates(&mut e, &c.aggregates);
        w.write_event(Event::Start(e))?;
        for m in &c.modules {
            let mut e = BytesStart::new("module");
            e.push_attribute(("path", m.path.as_str()));
            e.push_attribute(("lines", m.lines.to_string().as_str()));
            e.push_attribute(("code-lines", m.code_lines.to_string().as_str()));
            e.push_attribute(("functions", m.aggregates.count.to_string().as_str()));
            aggregates(&mut e, &m.aggregates);
            let empty = m.error.is_none() && m.functions.is_empty() && m.units.is_empty();
            if empty {
                w.write_event(Event::Empty(e))?;
                continue;
            }
            w.write_event(Event::Start(e))?;
            if let Some(err) = &m.error {
                let mut e = BytesStart::new("parse-error");
                e.push_attribute(("line", err.line.to_string().as_str()));
                e.push_attribute(("column", err.column.to_string().as_str()));
                e.push_attribute(("message", err.message.as_str()));
                w.write_event(Event::Empty(e))?;
            }
            for f in &m.functions {
                function(&mut w, f)?;
            }
            for u in &m.units {
                let mut e = BytesStart::new(u.kind.as_str());
                e.push_attribute(("name", u.name.as_str()));
                e.push_attribute(("line", u.line.to_string().as_str()));
                if matches!(u.kind.as_str(), "impl" | "trait") {
                    e.push_attribute(("functions", u.aggregates.count.to_string().as_str()));
                    aggregates(&mut e, &u.aggregates);
                }
                if u.functions.is_empty() {
                    w.write_event(Event::Empty(e))?;
                    continue;
                }
                w.write_event(Event::Start(e))?;
                for f in &u.functions {
                    function(&mut w, f)?;
                }
                w.write_event(Event::End(BytesEnd::new(u.kind.as_str())))?;
            }
            w.write_event(Event::End(BytesEnd::new("module")))?;
        }
        w.write_event(Event::End(BytesEnd::new("crate")))?;
    }
    let mut e = BytesStart::new("duplicates");
    e.push_attribute(("groups", a.duplicates.len().to_string().as_str()));
    if a.duplicates.is_empty() {
        w.write_event(Event::Empty(e))?;
    } else {
        w.write_event(Event::Start(e))?;
        for g in &a.duplicates {
            let mut e = BytesStart::new("group");
            e.push_attribute(("tokens", g.tokens.to_string().as_str()));
            e.push_attribute(("lines", g.lines.to_string().as_str()));
            e.push_attribute(("copies", g.locations.len().to_string().as_str()));
            w.write_event(Event::Start(e))?;
            for l in &g.locations {
                let mut e = BytesStart::new("location");
                e.push_attribute(("file", l.file.as_str()));
                e.push_attribute(("line", l.line.to_string().as_str()));
                e.push_attribute(("name", l.name.as_str()));
                w.write_event(Event::Empty(e))?;
            }
            w.write_event(Event::End(BytesEnd::new("group")))?;
        }
        w.write_event(Event::End(BytesEnd::new("duplicates")))?;
    }
    w.write_event(Event::End(BytesEnd::new("assessment")))?;
    let mut out = w.into_inner();
    out.write_all(b"\n")?;
    Ok(out)
}

fn function(w: &mut Writer<Vec<u8>>, f: &FunctionOut) -> std::io::Result<()> {
    let mut e = BytesStart::new("function");
    e.push_attribute(("name", f.name.as_str()));
    e.push_attribute(("line", f.line.to_string().as_str()));
    for (name, v) in NAMES.iter().zip(f.metrics.values()) {
        e.push_attribute((*name, v.to_string().as_str()));
    }
    w.write_event(Event::Empty(e))
}

/// `NAME-sum`, `NAME-max`, `NAME-mean` for each metric.
fn aggregates(e: &mut BytesStart<'_>, a: &Aggregates) {
    for (k, name) in NAMES.iter().enumerate() {
        e.push_attribute((
            format!("{name}-sum").as_str(),
            a.sum[k].to_string().as_str(),
        ));
        e.push_attribute((
            format!("{name}-max").as_str(),
            a.max[k].to_string().as_str(),
        ));
        e.push_attribute((format!("{name}-mean").as_str(), a.mean(k).as_str()));
    }
}
