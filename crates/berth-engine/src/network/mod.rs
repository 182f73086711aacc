//! Networks. The built-in `host` and `none` networks exist from the first start; bridge
//! networks (the default `bridge` and user-defined ones) are added by the bridge driver.

use crate::error::{EngineError, Result};
use crate::store::{Kind, Store};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetworkRec {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub created: String,
    pub builtin: bool,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub options: HashMap<String, String>,
    #[serde(default)]
    pub labels: HashMap<String, String>,
}

pub struct Networks {
    inner: Mutex<Vec<NetworkRec>>,
}

impl Networks {
    /// Loads networks, creating the built-in ones on first start.
    pub fn load(store: &Store) -> Result<Self> {
        let mut list: Vec<NetworkRec> = store.list(Kind::Networks)?.into_iter().map(|(_, n)| n).collect();
        for (name, driver) in [("host", "host"), ("none", "null")] {
            if !list.iter().any(|n| n.name == name && n.builtin) {
                let rec = NetworkRec {
                    id: crate::ids::new_id(),
                    name: name.into(),
                    driver: driver.into(),
                    created: crate::ids::now(),
                    builtin: true,
                    internal: false,
                    attachable: false,
                    options: HashMap::new(),
                    labels: HashMap::new(),
                };
                store.put(Kind::Networks, &rec.id, &rec)?;
                list.push(rec);
            }
        }
        Ok(Networks { inner: Mutex::new(list) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<NetworkRec>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn list(&self) -> Vec<NetworkRec> {
        self.lock().clone()
    }

    /// Finds a network by name, full id or unique id prefix.
    pub fn resolve(&self, r: &str) -> Result<NetworkRec> {
        let list = self.lock();
        if let Some(n) = list.iter().find(|n| n.name == r || n.id == r) {
            return Ok(n.clone());
        }
        let found: Vec<&NetworkRec> = list.iter().filter(|n| !r.is_empty() && n.id.starts_with(r)).collect();
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(EngineError::NotFound(format!("network {r} not found"))),
            _ => Err(EngineError::NotFound(format!("network {r} is ambiguous ({} matches found based on ID prefix)", found.len()))),
        }
    }

    /// Checks that a container's `NetworkMode` names something berth can attach to.
    pub fn check_mode(&self, mode: &str) -> Result<()> {
        match mode {
            "host" | "none" => Ok(()),
            m if m.starts_with("container:") => Err(EngineError::NotImplemented(
                "network mode container:<name> is not implemented by berth yet".into(),
            )),
            m => self.resolve(m).map(|_| ()).map_err(|e| match m {
                "bridge" => EngineError::NotImplemented(
                    "bridge networking is not implemented by berth yet: use --network none or --network host".into(),
                ),
                _ => e,
            }),
        }
    }
}
