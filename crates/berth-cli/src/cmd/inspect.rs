//! `inspect` (and `container|image|network inspect`): raw JSON objects printed
//! as an indented array, or each rendered through `-f TEMPLATE`.

use crate::args::ObjectType;
use crate::client::{path_escape, Client};
use crate::error::{describe_api_error, is_not_found};
use crate::output::{self, out};
use crate::template::Template;
use bollard::errors::Error as ApiError;
use bytes::Bytes;

fn path_for(t: ObjectType, name: &str) -> String {
    let n = path_escape(name);
    match t {
        ObjectType::Container => format!("/containers/{n}/json"),
        ObjectType::Image => format!("/images/{n}/json"),
        ObjectType::Network => format!("/networks/{n}"),
    }
}

fn not_found_message(t: Option<ObjectType>, name: &str) -> String {
    match t {
        None => format!("Error: No such object: {name}"),
        Some(ObjectType::Container) => format!("Error: No such container: {name}"),
        Some(ObjectType::Image) => format!("Error: No such image: {name}"),
        Some(ObjectType::Network) => format!("Error: No such network: {name}"),
    }
}

/// Fetches one object; `Ok(None)` when no object of the wanted type(s) exists.
async fn fetch(c: &Client, t: Option<ObjectType>, name: &str) -> Result<Option<Bytes>, ApiError> {
    let types: &[ObjectType] = match t {
        Some(ObjectType::Container) => &[ObjectType::Container],
        Some(ObjectType::Image) => &[ObjectType::Image],
        Some(ObjectType::Network) => &[ObjectType::Network],
        None => &[
            ObjectType::Container,
            ObjectType::Image,
            ObjectType::Network,
        ],
    };
    for ty in types {
        match c.get_raw(&path_for(*ty, name)).await {
            Ok(b) => return Ok(Some(b)),
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

pub async fn inspect(
    c: &Client,
    t: Option<ObjectType>,
    format: Option<&str>,
    names: &[String],
) -> anyhow::Result<i32> {
    let template = match format {
        None | Some("") | Some("json") => None,
        Some(f) => Some(Template::parse(f)?),
    };
    let mut failed = false;
    let mut found = Vec::new();
    for name in names {
        match fetch(c, t, name).await {
            Ok(Some(b)) => {
                if let Some(tpl) = &template {
                    // Docker prints templated results as it goes.
                    let v: serde_json::Value = serde_json::from_slice(&b)?;
                    let mut s = tpl.execute(&v)?;
                    s.push('\n');
                    out(&s);
                } else {
                    found.push(b);
                }
            }
            Ok(None) => {
                failed = true;
                eprintln!("{}", not_found_message(t, name));
            }
            Err(e) => {
                failed = true;
                eprintln!("{}", describe_api_error(&e));
            }
        }
    }
    if template.is_none() {
        out(&output::inspect_array(&found));
    }
    Ok(i32::from(failed))
}
