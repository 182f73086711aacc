//! A small subset of Go's `text/template`, enough for Docker-style `--format`.
//!
//! Supported: text, `{{.Field.Sub}}`, `{{.}}`, `{{$}}`, variables (`{{$x := .A}}`,
//! `{{range $k, $v := .Map}}`), pipelines (`{{.A | json}}`), parenthesised
//! commands with trailing fields (`{{(index .A 0).B}}`), `if`/`else if`/`else`,
//! `range`, `with`, trim markers (`{{-`, `-}}`), comments, and the functions
//! Docker registers (`json`, `join`, `split`, `lower`, `upper`, `title`, `pad`,
//! `truncate`) plus Go's `index`, `len`, `print`, `println`, `printf`, `eq`,
//! `ne`, `lt`, `le`, `gt`, `ge`, `and`, `or`, `not`.
//!
//! Data is a `serde_json::Value`; values print like Go's `%v` on decoded JSON
//! (`map[k:v]`, `[a b]`, `<nil>`, and `<no value>` for missing keys).

use serde_json::{Map, Value};
use std::fmt;

/// A parse or execution error.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError(pub String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

fn parse_err(msg: impl Into<String>) -> TemplateError {
    TemplateError(format!("template parsing error: template: :{}", msg.into()))
}

fn exec_err(msg: impl Into<String>) -> TemplateError {
    TemplateError(format!("template: executing \"\": {}", msg.into()))
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If {
        cond: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        over: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        value: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug, Clone)]
struct Pipeline {
    /// Variables declared by `$x :=` (or `$i, $e :=` in range).
    decl: Vec<String>,
    cmds: Vec<Cmd>,
}

#[derive(Debug, Clone)]
struct Cmd {
    args: Vec<Term>,
}

#[derive(Debug, Clone)]
enum Term {
    /// `.A.B` (empty = `.`)
    Dot(Vec<String>),
    /// `$name.A.B` (`$` has an empty name)
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Func(String),
    Paren(Box<Pipeline>, Vec<String>),
}

// ---------------------------------------------------------------------------
// Lexing of the source into text and actions.

enum Segment {
    Text(String),
    Action(String),
}

fn split_segments(src: &str) -> Result<Vec<Segment>, TemplateError> {
    let mut segs = Vec::new();
    let mut rest = src;
    let mut trim_next_text = false;
    while !rest.is_empty() {
        let Some(open) = rest.find("{{") else {
            let mut text = rest.to_string();
            if trim_next_text {
                text = text.trim_start().to_string();
            }
            segs.push(Segment::Text(text));
            break;
        };
        let mut text = rest[..open].to_string();
        if trim_next_text {
            text = text.trim_start().to_string();
        }
        let after = &rest[open + 2..];
        let (left_trim, body_start) =
            if after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n") {
                (true, 1)
            } else {
                (false, 0)
            };
        if left_trim {
            text = text.trim_end().to_string();
        }
        if !text.is_empty() {
            segs.push(Segment::Text(text));
        }
        let body = &after[body_start..];
        let close =
            find_action_end(body).ok_or_else(|| parse_err("1: unclosed action".to_string()))?;
        let mut inner = &body[..close];
        trim_next_text = false;
        if inner.ends_with(" -") || inner.ends_with("\t-") || inner.ends_with("\n-") {
            inner = &inner[..inner.len() - 1];
            trim_next_text = true;
        }
        let trimmed = inner.trim();
        if !(trimmed.starts_with("/*") && trimmed.ends_with("*/")) {
            segs.push(Segment::Action(inner.to_string()));
        }
        rest = &body[close + 2..];
    }
    Ok(segs)
}

/// Finds the `}}` closing an action, skipping string literals.
fn find_action_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if i + 1 < b.len() && b[i + 1] == b'}' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Ident(String),
    Pipe,
    LParen,
    RParen,
    Declare,
    Comma,
}

/// A token plus whether whitespace preceded it.
type Spanned = (Tok, bool);

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn lex_fields(chars: &[char], i: &mut usize) -> Vec<String> {
    // at a '.'
    let mut fields = Vec::new();
    while *i < chars.len() && chars[*i] == '.' {
        let start = *i + 1;
        let mut j = start;
        while j < chars.len() && is_ident_char(chars[j]) {
            j += 1;
        }
        if j == start {
            break;
        }
        fields.push(chars[start..j].iter().collect());
        *i = j;
    }
    fields
}

fn lex_action(src: &str) -> Result<Vec<Spanned>, TemplateError> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut space = true;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            space = true;
            i += 1;
            continue;
        }
        let tok = match c {
            '|' => {
                i += 1;
                Tok::Pipe
            }
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                i += 2;
                Tok::Declare
            }
            '=' => {
                // Go assignment `$x = ...`; treat like a declaration.
                i += 1;
                Tok::Declare
            }
            '"' => {
                i += 1;
                let mut s = String::new();
                loop {
                    let Some(&ch) = chars.get(i) else {
                        return Err(parse_err("1: unterminated quoted string"));
                    };
                    i += 1;
                    match ch {
                        '"' => break,
                        '\\' => {
                            let Some(&e) = chars.get(i) else {
                                return Err(parse_err("1: unterminated quoted string"));
                            };
                            i += 1;
                            match e {
                                'n' => s.push('\n'),
                                't' => s.push('\t'),
                                'r' => s.push('\r'),
                                '\\' => s.push('\\'),
                                '"' => s.push('"'),
                                '\'' => s.push('\''),
                                '0' => s.push('\0'),
                                other => {
                                    return Err(parse_err(format!(
                                        "1: unknown escape sequence: \\{other}"
                                    )))
                                }
                            }
                        }
                        other => s.push(other),
                    }
                }
                Tok::Str(s)
            }
            '`' => {
                i += 1;
                let start = i;
                while i < chars.len() && chars[i] != '`' {
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(parse_err("1: unterminated raw quoted string"));
                }
                let s: String = chars[start..i].iter().collect();
                i += 1;
                Tok::Str(s)
            }
            '.' => {
                if chars.get(i + 1).is_some_and(|c| is_ident_char(*c)) {
                    Tok::Field(lex_fields(&chars, &mut i))
                } else if chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
                    let start = i;
                    i += 1;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                    let s: String = chars[start..i].iter().collect();
                    Tok::Float(
                        s.parse()
                            .map_err(|_| parse_err(format!("1: bad number syntax: {s:?}")))?,
                    )
                } else {
                    i += 1;
                    Tok::Field(Vec::new())
                }
            }
            '$' => {
                i += 1;
                let start = i;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                let fields = lex_fields(&chars, &mut i);
                Tok::Var(name, fields)
            }
            c if c.is_ascii_digit() || (c == '-' || c == '+') => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                if let Ok(n) = s.parse::<i64>() {
                    Tok::Int(n)
                } else if let Ok(f) = s.parse::<f64>() {
                    Tok::Float(f)
                } else {
                    return Err(parse_err(format!("1: bad number syntax: {s:?}")));
                }
            }
            c if is_ident_char(c) => {
                let start = i;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                Tok::Ident(chars[start..i].iter().collect())
            }
            other => return Err(parse_err(format!("1: unexpected {other:?} in command"))),
        };
        toks.push((tok, space));
        space = false;
    }
    Ok(toks)
}

// ---------------------------------------------------------------------------
// Parsing.

const FUNCS: &[&str] = &[
    "json", "join", "split", "lower", "upper", "title", "pad", "truncate", "index", "len", "print",
    "println", "printf", "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not",
];

struct PipeParser<'a> {
    toks: &'a [Spanned],
    pos: usize,
}

impl PipeParser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }

    fn pipeline(&mut self, in_paren: bool) -> Result<Pipeline, TemplateError> {
        let mut decl = Vec::new();
        // Declarations: `$x :=` or `$i, $e :=`.
        let save = self.pos;
        let mut names = Vec::new();
        while let Some(Tok::Var(name, fields)) = self.peek() {
            if !fields.is_empty() {
                break;
            }
            names.push(name.clone());
            self.pos += 1;
            match self.peek() {
                Some(Tok::Comma) => {
                    self.pos += 1;
                }
                Some(Tok::Declare) => {
                    self.pos += 1;
                    decl = std::mem::take(&mut names);
                    break;
                }
                _ => break,
            }
        }
        if decl.is_empty() {
            self.pos = save;
        }
        let mut cmds = Vec::new();
        loop {
            let mut args = Vec::new();
            while let Some(tok) = self.peek() {
                match tok {
                    Tok::Pipe => break,
                    Tok::RParen if in_paren => break,
                    _ => args.push(self.term()?),
                }
            }
            if args.is_empty() {
                return Err(parse_err("1: missing value for command"));
            }
            cmds.push(Cmd { args });
            match self.peek() {
                Some(Tok::Pipe) => {
                    self.pos += 1;
                }
                _ => break,
            }
        }
        Ok(Pipeline { decl, cmds })
    }

    fn term(&mut self) -> Result<Term, TemplateError> {
        let Some((tok, _)) = self.toks.get(self.pos).cloned() else {
            return Err(parse_err("1: unexpected end of action"));
        };
        self.pos += 1;
        Ok(match tok {
            Tok::Field(f) => Term::Dot(f),
            Tok::Var(n, f) => Term::Var(n, f),
            Tok::Str(s) => Term::Str(s),
            Tok::Int(n) => Term::Int(n),
            Tok::Float(f) => Term::Float(f),
            Tok::Ident(id) => match id.as_str() {
                "true" => Term::Bool(true),
                "false" => Term::Bool(false),
                "nil" => Term::Nil,
                name if FUNCS.contains(&name) => Term::Func(id),
                _ => return Err(parse_err(format!("1: function {id:?} not defined"))),
            },
            Tok::LParen => {
                let inner = self.pipeline(true)?;
                match self.peek() {
                    Some(Tok::RParen) => self.pos += 1,
                    _ => return Err(parse_err("1: unclosed left paren")),
                }
                // Fields directly after `)`, e.g. `(index .A 0).B`.
                let mut fields = Vec::new();
                if let Some((Tok::Field(f), false)) = self.toks.get(self.pos) {
                    fields = f.clone();
                    self.pos += 1;
                }
                Term::Paren(Box::new(inner), fields)
            }
            Tok::RParen => return Err(parse_err("1: unexpected right paren")),
            Tok::Pipe | Tok::Comma | Tok::Declare => {
                return Err(parse_err("1: unexpected token in command"))
            }
        })
    }
}

fn parse_pipeline(src: &str) -> Result<Pipeline, TemplateError> {
    let toks = lex_action(src)?;
    let mut p = PipeParser {
        toks: &toks,
        pos: 0,
    };
    let pipe = p.pipeline(false)?;
    if p.pos != toks.len() {
        return Err(parse_err(format!("1: unexpected token in {src:?}")));
    }
    Ok(pipe)
}

enum Stop {
    Eof,
    End,
    Else(Option<String>),
}

struct NodeParser {
    segs: std::vec::IntoIter<Segment>,
}

impl NodeParser {
    fn list(&mut self) -> Result<(Vec<Node>, Stop), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(seg) = self.segs.next() {
            match seg {
                Segment::Text(t) => nodes.push(Node::Text(t)),
                Segment::Action(a) => {
                    let a = a.trim();
                    let (kw, rest) = match a.find(char::is_whitespace) {
                        Some(i) => (&a[..i], a[i..].trim()),
                        None => (a, ""),
                    };
                    match kw {
                        "end" => return Ok((nodes, Stop::End)),
                        "else" => {
                            let chained = if rest.is_empty() {
                                None
                            } else {
                                Some(rest.to_string())
                            };
                            return Ok((nodes, Stop::Else(chained)));
                        }
                        "if" | "range" | "with" => {
                            nodes.push(self.block(kw, rest)?);
                        }
                        "define" | "template" | "block" | "break" | "continue" => {
                            return Err(parse_err(format!("1: {kw:?} is not supported")))
                        }
                        _ => nodes.push(Node::Action(parse_pipeline(a)?)),
                    }
                }
            }
        }
        Ok((nodes, Stop::Eof))
    }

    fn block(&mut self, kw: &str, rest: &str) -> Result<Node, TemplateError> {
        if rest.is_empty() {
            return Err(parse_err(format!("1: missing value for {kw}")));
        }
        let pipe = parse_pipeline(rest)?;
        let (body, stop) = self.list()?;
        let otherwise = match stop {
            Stop::Eof => return Err(parse_err("1: unexpected EOF")),
            Stop::End => Vec::new(),
            Stop::Else(None) => {
                let (other, stop) = self.list()?;
                match stop {
                    Stop::End => other,
                    Stop::Eof => return Err(parse_err("1: unexpected EOF")),
                    Stop::Else(_) => return Err(parse_err("1: expected end; found else")),
                }
            }
            Stop::Else(Some(chain)) => {
                // `else if X` / `else with X`: a nested block sharing our `end`.
                let chain = chain.trim();
                let (kw2, rest2) = match chain.find(char::is_whitespace) {
                    Some(i) => (&chain[..i], chain[i..].trim()),
                    None => (chain, ""),
                };
                if kw2 != "if" && kw2 != "with" {
                    return Err(parse_err(format!("1: unexpected {chain:?} after else")));
                }
                vec![self.block(kw2, rest2)?]
            }
        };
        Ok(match kw {
            "if" => Node::If {
                cond: pipe,
                then: body,
                otherwise,
            },
            "range" => Node::Range {
                over: pipe,
                body,
                otherwise,
            },
            _ => Node::With {
                value: pipe,
                body,
                otherwise,
            },
        })
    }
}

impl Template {
    /// Parses a template.
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let segs = split_segments(src)?;
        let mut p = NodeParser {
            segs: segs.into_iter(),
        };
        let (nodes, stop) = p.list()?;
        match stop {
            Stop::Eof => Ok(Template { nodes }),
            Stop::End => Err(parse_err("1: unexpected {{end}}")),
            Stop::Else(_) => Err(parse_err("1: unexpected {{else}}")),
        }
    }

    /// Executes the template against `data`.
    pub fn execute(&self, data: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut ex = Exec {
            root: data,
            vars: Vec::new(),
        };
        ex.run(&self.nodes, &Val::V(data.clone()), &mut out)?;
        Ok(out)
    }
}

/// Parses and executes in one go.
#[cfg(test)]
pub fn render(src: &str, data: &Value) -> Result<String, TemplateError> {
    Template::parse(src)?.execute(data)
}

// ---------------------------------------------------------------------------
// Execution.

#[derive(Debug, Clone, PartialEq)]
enum Val {
    V(Value),
    Missing,
}

impl Val {
    fn truthy(&self) -> bool {
        match self {
            Val::Missing => false,
            Val::V(v) => match v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
            },
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Val::Missing => "<no value>",
            Val::V(v) => match v {
                Value::Null => "interface {}",
                Value::Bool(_) => "bool",
                Value::Number(n) if n.is_f64() => "float64",
                Value::Number(_) => "int",
                Value::String(_) => "string",
                Value::Array(_) => "[]interface {}",
                Value::Object(_) => "map[string]interface {}",
            },
        }
    }
}

/// Formats a JSON value like Go's `%v` on a decoded `interface{}`.
pub fn go_format(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                format_go_float(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(go_format).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_format(&o[k.as_str()])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

fn format_go_float(f: f64) -> String {
    // Go's %v uses the shortest representation, with an exponent when the
    // exponent is < -4 or >= 21.
    if f == 0.0 {
        return "0".to_string();
    }
    let exp = f.abs().log10().floor() as i32;
    if !(-4..21).contains(&exp) {
        let s = format!("{f:e}");
        // Rust: 1e21 / 1.5e-7; Go: 1e+21 / 1.5e-07
        if let Some((m, e)) = s.split_once('e') {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            let digits = if digits.len() < 2 {
                format!("0{digits}")
            } else {
                digits.to_string()
            };
            return format!("{m}e{sign}{digits}");
        }
        s
    } else {
        format!("{f}")
    }
}

fn val_to_string(v: &Val) -> String {
    match v {
        Val::Missing => "<no value>".to_string(),
        Val::V(v) => go_format(v),
    }
}

/// Go's `json.Marshal` escapes `<`, `>` and `&` inside strings.
pub fn go_json(v: &Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_else(|_| "null".to_string());
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

struct Exec<'a> {
    root: &'a Value,
    vars: Vec<(String, Val)>,
}

fn field_path(prefix: &str, fields: &[String]) -> String {
    let mut s = prefix.to_string();
    for f in fields {
        s.push('.');
        s.push_str(f);
    }
    s
}

fn access(mut cur: Val, fields: &[String], what: &str) -> Result<Val, TemplateError> {
    for f in fields {
        cur = match cur {
            Val::Missing | Val::V(Value::Null) => Val::Missing,
            Val::V(Value::Object(ref o)) => match o.get(f) {
                Some(v) => Val::V(v.clone()),
                None => Val::Missing,
            },
            other => {
                return Err(exec_err(format!(
                    "at <{what}>: can't evaluate field {f} in type {}",
                    other.type_name()
                )))
            }
        };
    }
    Ok(cur)
}

impl Exec<'_> {
    fn run(&mut self, nodes: &[Node], dot: &Val, out: &mut String) -> Result<(), TemplateError> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipeline(p, dot)?;
                    if p.decl.is_empty() {
                        out.push_str(&val_to_string(&v));
                    } else {
                        for name in &p.decl {
                            self.vars.push((name.clone(), v.clone()));
                        }
                    }
                }
                Node::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let depth = self.vars.len();
                    let v = self.pipeline(cond, dot)?;
                    self.declare(&cond.decl, &v);
                    if v.truthy() {
                        self.run(then, dot, out)?;
                    } else {
                        self.run(otherwise, dot, out)?;
                    }
                    self.vars.truncate(depth);
                }
                Node::With {
                    value,
                    body,
                    otherwise,
                } => {
                    let depth = self.vars.len();
                    let v = self.pipeline(value, dot)?;
                    self.declare(&value.decl, &v);
                    if v.truthy() {
                        self.run(body, &v, out)?;
                    } else {
                        self.run(otherwise, dot, out)?;
                    }
                    self.vars.truncate(depth);
                }
                Node::Range {
                    over,
                    body,
                    otherwise,
                } => {
                    let v = self.pipeline(over, dot)?;
                    let items: Vec<(Value, Value)> = match &v {
                        Val::Missing | Val::V(Value::Null) => Vec::new(),
                        Val::V(Value::Array(a)) => a
                            .iter()
                            .enumerate()
                            .map(|(i, e)| (Value::from(i), e.clone()))
                            .collect(),
                        Val::V(Value::Object(o)) => {
                            let mut keys: Vec<&String> = o.keys().collect();
                            keys.sort();
                            keys.into_iter()
                                .map(|k| (Value::String(k.clone()), o[k.as_str()].clone()))
                                .collect()
                        }
                        Val::V(Value::Number(n)) if n.as_u64().is_some() => {
                            (0..n.as_u64().unwrap_or(0))
                                .map(|i| (Value::from(i), Value::from(i)))
                                .collect()
                        }
                        other => {
                            return Err(exec_err(format!(
                                "range can't iterate over {}",
                                val_to_string(other)
                            )))
                        }
                    };
                    if items.is_empty() {
                        self.run(otherwise, dot, out)?;
                        continue;
                    }
                    for (k, e) in items {
                        let depth = self.vars.len();
                        match over.decl.as_slice() {
                            [] => {}
                            [one] => self.vars.push((one.clone(), Val::V(e.clone()))),
                            [a, b, ..] => {
                                self.vars.push((a.clone(), Val::V(k)));
                                self.vars.push((b.clone(), Val::V(e.clone())));
                            }
                        }
                        self.run(body, &Val::V(e), out)?;
                        self.vars.truncate(depth);
                    }
                }
            }
        }
        Ok(())
    }

    fn declare(&mut self, names: &[String], v: &Val) {
        for n in names {
            self.vars.push((n.clone(), v.clone()));
        }
    }

    fn lookup_var(&self, name: &str) -> Result<Val, TemplateError> {
        if name.is_empty() {
            return Ok(Val::V(self.root.clone()));
        }
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| exec_err(format!("undefined variable: ${name}")))
    }

    fn pipeline(&mut self, p: &Pipeline, dot: &Val) -> Result<Val, TemplateError> {
        let mut prev: Option<Val> = None;
        for cmd in &p.cmds {
            prev = Some(self.command(cmd, dot, prev)?);
        }
        Ok(prev.unwrap_or(Val::Missing))
    }

    fn term(&mut self, t: &Term, dot: &Val) -> Result<Val, TemplateError> {
        Ok(match t {
            Term::Dot(fields) => access(dot.clone(), fields, &field_path("", fields))?,
            Term::Var(name, fields) => {
                let base = self.lookup_var(name)?;
                access(base, fields, &field_path(&format!("${name}"), fields))?
            }
            Term::Str(s) => Val::V(Value::String(s.clone())),
            Term::Int(n) => Val::V(Value::from(*n)),
            Term::Float(f) => {
                Val::V(serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number))
            }
            Term::Bool(b) => Val::V(Value::Bool(*b)),
            Term::Nil => Val::V(Value::Null),
            Term::Func(name) => self.call(name, Vec::new())?,
            Term::Paren(p, fields) => {
                let v = self.pipeline(p, dot)?;
                access(v, fields, &field_path("(...)", fields))?
            }
        })
    }

    fn command(&mut self, cmd: &Cmd, dot: &Val, piped: Option<Val>) -> Result<Val, TemplateError> {
        let (first, rest) = match cmd.args.split_first() {
            Some(x) => x,
            None => return Err(exec_err("empty command")),
        };
        if let Term::Func(name) = first {
            let mut args = Vec::with_capacity(rest.len() + 1);
            for a in rest {
                args.push(self.term(a, dot)?);
            }
            if let Some(p) = piped {
                args.push(p);
            }
            return self.call(name, args);
        }
        if !rest.is_empty() || piped.is_some() {
            return Err(exec_err("can't give argument to non-function"));
        }
        self.term(first, dot)
    }

    fn call(&mut self, name: &str, args: Vec<Val>) -> Result<Val, TemplateError> {
        let arity = |n: usize| -> Result<(), TemplateError> {
            if args.len() != n {
                Err(exec_err(format!(
                    "error calling {name}: wrong number of args: want {n} got {}",
                    args.len()
                )))
            } else {
                Ok(())
            }
        };
        let s = |v: &Val| val_to_string(v);
        let string = |v: String| Ok(Val::V(Value::String(v)));
        match name {
            "json" => {
                arity(1)?;
                let v = match &args[0] {
                    Val::Missing => Value::Null,
                    Val::V(v) => v.clone(),
                };
                string(go_json(&v))
            }
            "lower" => {
                arity(1)?;
                string(s(&args[0]).to_lowercase())
            }
            "upper" => {
                arity(1)?;
                string(s(&args[0]).to_uppercase())
            }
            "title" => {
                arity(1)?;
                let mut out = String::new();
                let mut start = true;
                for c in s(&args[0]).chars() {
                    if start && c.is_alphabetic() {
                        out.extend(c.to_uppercase());
                    } else {
                        out.push(c);
                    }
                    start = !c.is_alphanumeric();
                }
                string(out)
            }
            "split" => {
                arity(2)?;
                let (a, sep) = (s(&args[0]), s(&args[1]));
                let parts: Vec<Value> = if sep.is_empty() {
                    a.chars().map(|c| Value::String(c.to_string())).collect()
                } else {
                    a.split(sep.as_str())
                        .map(|p| Value::String(p.to_string()))
                        .collect()
                };
                Ok(Val::V(Value::Array(parts)))
            }
            "join" => {
                arity(2)?;
                let sep = s(&args[1]);
                match &args[0] {
                    Val::V(Value::Array(a)) => {
                        string(a.iter().map(go_format).collect::<Vec<_>>().join(&sep))
                    }
                    Val::Missing | Val::V(Value::Null) => string(String::new()),
                    other => Err(exec_err(format!(
                        "error calling join: can't join {}",
                        other.type_name()
                    ))),
                }
            }
            "pad" => {
                arity(3)?;
                let before = as_int(&args[1]).unwrap_or(0).max(0) as usize;
                let after = as_int(&args[2]).unwrap_or(0).max(0) as usize;
                string(format!(
                    "{}{}{}",
                    " ".repeat(before),
                    s(&args[0]),
                    " ".repeat(after)
                ))
            }
            "truncate" => {
                arity(2)?;
                let n = as_int(&args[1]).unwrap_or(0).max(0) as usize;
                string(s(&args[0]).chars().take(n).collect())
            }
            "len" => {
                arity(1)?;
                let n = match &args[0] {
                    Val::V(Value::String(x)) => x.len(),
                    Val::V(Value::Array(a)) => a.len(),
                    Val::V(Value::Object(o)) => o.len(),
                    other => {
                        return Err(exec_err(format!(
                            "error calling len: len of type {}",
                            other.type_name()
                        )))
                    }
                };
                Ok(Val::V(Value::from(n)))
            }
            "index" => {
                let Some((first, keys)) = args.split_first() else {
                    return Err(exec_err("error calling index: missing argument"));
                };
                let mut cur = first.clone();
                for k in keys {
                    cur = match (&cur, k) {
                        (Val::V(Value::Object(o)), key) => {
                            let key = s(key);
                            match o.get(&key) {
                                Some(v) => Val::V(v.clone()),
                                // A missing key yields the map's zero value; Docker's
                                // maps are mostly string-valued, so "" is the usual answer.
                                None if o.values().all(Value::is_string) => {
                                    Val::V(Value::String(String::new()))
                                }
                                None => Val::V(Value::Null),
                            }
                        }
                        (Val::V(Value::Array(a)), idx) => {
                            let i = as_int(idx).ok_or_else(|| {
                                exec_err("error calling index: cannot index slice with non-integer")
                            })?;
                            match usize::try_from(i).ok().and_then(|i| a.get(i)) {
                                Some(v) => Val::V(v.clone()),
                                None => {
                                    return Err(exec_err(format!(
                                        "error calling index: index out of range: {i}"
                                    )))
                                }
                            }
                        }
                        (Val::Missing | Val::V(Value::Null), _) => Val::Missing,
                        (other, _) => {
                            return Err(exec_err(format!(
                                "error calling index: can't index item of type {}",
                                other.type_name()
                            )))
                        }
                    };
                }
                Ok(cur)
            }
            "print" => {
                // Go adds spaces between operands when neither is a string.
                let mut out = String::new();
                for (i, a) in args.iter().enumerate() {
                    let is_str = matches!(a, Val::V(Value::String(_)));
                    let prev_str = i > 0 && matches!(args[i - 1], Val::V(Value::String(_)));
                    if i > 0 && !is_str && !prev_str {
                        out.push(' ');
                    }
                    out.push_str(&s(a));
                }
                string(out)
            }
            "println" => {
                let parts: Vec<String> = args.iter().map(s).collect();
                string(format!("{}\n", parts.join(" ")))
            }
            "printf" => {
                let Some((fmt, rest)) = args.split_first() else {
                    return Err(exec_err("error calling printf: missing format"));
                };
                string(go_sprintf(&s(fmt), rest))
            }
            "not" => {
                arity(1)?;
                Ok(Val::V(Value::Bool(!args[0].truthy())))
            }
            "and" => {
                let mut last = Val::Missing;
                for a in args {
                    if !a.truthy() {
                        return Ok(a);
                    }
                    last = a;
                }
                Ok(last)
            }
            "or" => {
                let mut last = Val::Missing;
                for a in args {
                    if a.truthy() {
                        return Ok(a);
                    }
                    last = a;
                }
                Ok(last)
            }
            "eq" => {
                let Some((first, rest)) = args.split_first() else {
                    return Err(exec_err("error calling eq: missing argument"));
                };
                Ok(Val::V(Value::Bool(
                    rest.iter().any(|b| vals_equal(first, b)),
                )))
            }
            "ne" => {
                arity(2)?;
                Ok(Val::V(Value::Bool(!vals_equal(&args[0], &args[1]))))
            }
            "lt" | "le" | "gt" | "ge" => {
                arity(2)?;
                let ord = compare(&args[0], &args[1]).ok_or_else(|| {
                    exec_err(format!(
                        "error calling {name}: incompatible types for comparison"
                    ))
                })?;
                use std::cmp::Ordering::*;
                let r = match name {
                    "lt" => ord == Less,
                    "le" => ord != Greater,
                    "gt" => ord == Greater,
                    _ => ord != Less,
                };
                Ok(Val::V(Value::Bool(r)))
            }
            other => Err(exec_err(format!("function {other:?} not defined"))),
        }
    }
}

fn as_int(v: &Val) -> Option<i64> {
    match v {
        Val::V(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Val::V(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

fn vals_equal(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::V(Value::Number(x)), Val::V(Value::Number(y))) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(a: &Val, b: &Val) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Val::V(Value::Number(x)), Val::V(Value::Number(y))) => {
            x.as_f64()?.partial_cmp(&y.as_f64()?)
        }
        (Val::V(Value::String(x)), Val::V(Value::String(y))) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Minimal `fmt.Sprintf`: `%s %v %d %q %t %%` with optional width / `-`.
fn go_sprintf(fmt: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut left = false;
        let mut width = String::new();
        while let Some(&n) = chars.peek() {
            if n == '-' {
                left = true;
                chars.next();
            } else if n.is_ascii_digit() {
                width.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let text = match verb {
            'q' => go_quote(&val_to_string(arg)),
            _ => val_to_string(arg),
        };
        let w: usize = width.parse().unwrap_or(0);
        let pad = w.saturating_sub(text.chars().count());
        if left {
            out.push_str(&text);
            out.push_str(&" ".repeat(pad));
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(&text);
        }
    }
    out
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                let n = c as u32;
                if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Builds a JSON object from `(key, value)` pairs (handy for format contexts).
pub fn object<I, K>(pairs: I) -> Value
where
    I: IntoIterator<Item = (K, Value)>,
    K: Into<String>,
{
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k.into(), v);
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: &Value) -> String {
        render(t, v).unwrap_or_else(|e| panic!("{t}: {e}"))
    }

    fn sample() -> Value {
        json!({
            "Id": "abc123",
            "Name": "/web",
            "State": {"Pid": 4242, "Running": true, "Status": "running", "ExitCode": 0},
            "Config": {
                "Env": ["PATH=/bin", "A=1"],
                "Labels": {"com.example.k": "v", "b": "2"},
                "Cmd": null,
            },
            "NetworkSettings": {
                "Ports": {
                    "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
                    "53/udp": null,
                },
                "Networks": {"bridge": {"IPAddress": "172.17.0.2"}},
            },
            "Html": "<a&b>",
            "Ratio": 1.5,
        })
    }

    #[test]
    fn plain_text_and_fields() {
        let d = sample();
        assert_eq!(r("hello", &d), "hello");
        assert_eq!(r("{{.Id}}", &d), "abc123");
        assert_eq!(r("pid={{.State.Pid}}", &d), "pid=4242");
        assert_eq!(r("{{.State.Running}}", &d), "true");
        assert_eq!(r("{{ .Name }}", &d), "/web");
        assert_eq!(r("{{.Ratio}}", &d), "1.5");
    }

    #[test]
    fn missing_and_null() {
        let d = sample();
        assert_eq!(r("{{.Nope}}", &d), "<no value>");
        assert_eq!(r("{{.Nope.Deeper}}", &d), "<no value>");
        assert_eq!(r("{{.Config.Cmd}}", &d), "<nil>");
        assert!(render("{{.Id.Foo}}", &d).is_err());
    }

    #[test]
    fn composite_values_print_like_go() {
        let d = sample();
        assert_eq!(r("{{.Config.Env}}", &d), "[PATH=/bin A=1]");
        assert_eq!(r("{{.Config.Labels}}", &d), "map[b:2 com.example.k:v]");
    }

    #[test]
    fn json_function() {
        let d = sample();
        assert_eq!(r("{{json .Config.Env}}", &d), r#"["PATH=/bin","A=1"]"#);
        assert_eq!(r("{{json .State.Pid}}", &d), "4242");
        assert_eq!(r("{{json .Html}}", &d), r#""\u003ca\u0026b\u003e""#);
        assert_eq!(r("{{json .Nope}}", &d), "null");
        assert_eq!(r("{{.Config.Env | json}}", &d), r#"["PATH=/bin","A=1"]"#);
        assert_eq!(
            r("{{json .}}", &json!({"b": 1, "a": 2})),
            r#"{"a":2,"b":1}"#
        );
    }

    #[test]
    fn index_function() {
        let d = sample();
        assert_eq!(r(r#"{{index .Config.Labels "com.example.k"}}"#, &d), "v");
        assert_eq!(r(r#"{{index .Config.Labels "missing"}}"#, &d), "");
        assert_eq!(r("{{index .Config.Env 1}}", &d), "A=1");
        assert_eq!(
            r(
                r#"{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}"#,
                &d
            ),
            "8080"
        );
        assert_eq!(
            r(r#"{{index .NetworkSettings.Networks "bridge" | json}}"#, &d),
            r#"{"IPAddress":"172.17.0.2"}"#
        );
        assert!(render("{{index .Config.Env 5}}", &d).is_err());
    }

    #[test]
    fn range_and_variables() {
        let d = sample();
        assert_eq!(
            r("{{range .Config.Env}}[{{.}}]{{end}}", &d),
            "[PATH=/bin][A=1]"
        );
        assert_eq!(
            r(
                "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
                &d
            ),
            "b=2;com.example.k=v;"
        );
        assert_eq!(
            r(
                "{{range $p, $conf := .NetworkSettings.Ports}}{{$p}}:{{if $conf}}{{(index $conf 0).HostPort}}{{else}}-{{end}} {{end}}",
                &d
            ),
            "53/udp:- 80/tcp:8080 "
        );
        assert_eq!(r("{{range $i, $e := .Config.Env}}{{$i}}{{end}}", &d), "01");
        assert_eq!(r("{{range .Nope}}x{{else}}empty{{end}}", &d), "empty");
        assert_eq!(r("{{$x := .State.Pid}}pid {{$x}}", &d), "pid 4242");
        assert_eq!(
            r("{{range .Config.Env}}{{$.Id}} {{end}}", &d),
            "abc123 abc123 "
        );
        assert_eq!(
            r(
                "{{range $n, $c := .NetworkSettings.Networks}}{{$c.IPAddress}}{{end}}",
                &d
            ),
            "172.17.0.2"
        );
    }

    #[test]
    fn conditionals() {
        let d = sample();
        assert_eq!(r("{{if .State.Running}}up{{else}}down{{end}}", &d), "up");
        assert_eq!(r("{{if .Nope}}up{{else}}down{{end}}", &d), "down");
        assert_eq!(
            r(
                r#"{{if eq .State.Status "exited"}}x{{else if eq .State.Status "running"}}r{{else}}?{{end}}"#,
                &d
            ),
            "r"
        );
        assert_eq!(r("{{if not .State.Running}}a{{else}}b{{end}}", &d), "b");
        assert_eq!(r("{{if and .State.Running .Id}}a{{end}}", &d), "a");
        assert_eq!(r("{{if gt .State.Pid 100}}big{{end}}", &d), "big");
        assert_eq!(r("{{with .State}}{{.Status}}{{end}}", &d), "running");
        assert_eq!(r("{{with .Nope}}x{{else}}none{{end}}", &d), "none");
    }

    #[test]
    fn string_functions() {
        let d = sample();
        assert_eq!(r("{{upper .State.Status}}", &d), "RUNNING");
        assert_eq!(r("{{lower \"ABC\"}}", &d), "abc");
        assert_eq!(r("{{title \"hello world\"}}", &d), "Hello World");
        assert_eq!(r(r#"{{join .Config.Env ","}}"#, &d), "PATH=/bin,A=1");
        assert_eq!(r(r#"{{split "a:b:c" ":"}}"#, &d), "[a b c]");
        assert_eq!(r(r#"{{index (split "a:b:c" ":") 2}}"#, &d), "c");
        assert_eq!(r("{{len .Config.Env}}", &d), "2");
        assert_eq!(r("{{truncate .Id 3}}", &d), "abc");
        assert_eq!(r("{{pad .Id 1 2}}|", &d), " abc123  |");
        assert_eq!(r(r#"{{printf "%s-%d" .Id .State.Pid}}"#, &d), "abc123-4242");
        assert_eq!(r(r#"{{printf "%-5s|" "ab"}}"#, &d), "ab   |");
        assert_eq!(r(r#"{{println "a" "b"}}"#, &d), "a b\n");
    }

    #[test]
    fn trim_markers_and_comments() {
        let d = sample();
        assert_eq!(r("a  {{- .Id -}}  b", &d), "aabc123b");
        assert_eq!(r("a{{/* note */}}b", &d), "ab");
        assert_eq!(r("{{ \"}}\" }}", &d), "}}");
    }

    #[test]
    fn parse_errors() {
        assert!(Template::parse("{{.Id").is_err());
        assert!(Template::parse("{{if .A}}x").is_err());
        assert!(Template::parse("{{end}}").is_err());
        assert!(Template::parse("{{nosuchfunc .A}}").is_err());
        assert!(Template::parse("{{}}").is_err());
    }

    #[test]
    fn go_quote_matches_strconv() {
        assert_eq!(go_quote("sh -c \"x\""), r#""sh -c \"x\"""#);
        assert_eq!(go_quote("a\tb\n"), r#""a\tb\n""#);
        assert_eq!(go_quote("\u{1}"), r#""\x01""#);
        assert_eq!(go_quote("héllo…"), "\"héllo…\"");
    }

    #[test]
    fn go_float_format() {
        assert_eq!(format_go_float(1.5), "1.5");
        assert_eq!(format_go_float(1e21), "1e+21");
        assert_eq!(format_go_float(1.5e-7), "1.5e-07");
    }
}
