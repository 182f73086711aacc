//! `GET /events`: Docker's event stream, for the lifecycle of containers (`create`, `start`,
//! `die`, `destroy`, `rename`) and networks (`create`, `destroy`, `connect`, `disconnect`).
//!
//! Events go to a broadcast channel (live subscribers) and a bounded in-memory history (for
//! `since`); they are not persisted, so the history starts again when berthd restarts.

use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::broadcast;

/// How many past events `since` can reach.
const HISTORY: usize = 1024;

#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: HashMap<String, String>,
}

/// One event, in Docker's JSON shape (with the legacy `status`/`id`/`from` of containers).
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    #[serde(rename = "status", skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "id", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "from", skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(rename = "Type")]
    pub typ: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    pub fn new(typ: &str, action: &str, id: &str, attributes: HashMap<String, String>) -> Event {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or(0);
        let container = typ == "container";
        Event {
            status: container.then(|| action.to_string()),
            id: container.then(|| id.to_string()),
            from: if container {
                attributes.get("image").cloned()
            } else {
                None
            },
            typ: typ.to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
        }
    }

    /// Docker's event filters: `type`, `event` (action), `container`, `network`, `image`
    /// (id or name attribute), `label` (on the actor's attributes, all must match); values
    /// of one key are alternatives.
    pub fn matches(&self, f: &crate::filters::Filters) -> bool {
        use crate::filters::{all_of, any_of};
        let attr = |k: &str| self.actor.attributes.get(k).map(String::as_str);
        let is_actor = |typ: &str, v: &str| {
            self.typ == typ
                && (self.actor.id.starts_with(v) && !v.is_empty() || attr("name") == Some(v))
        };
        any_of(f, "type", |v| self.typ == v)
            && any_of(f, "event", |v| {
                self.action == v || self.action.split(':').next() == Some(v)
            })
            && any_of(f, "container", |v| {
                is_actor("container", v) || attr("container") == Some(v)
            })
            && any_of(f, "network", |v| is_actor("network", v))
            && any_of(f, "image", |v| attr("image") == Some(v))
            && all_of(f, "label", |v| match v.split_once('=') {
                Some((k, val)) => attr(k) == Some(val),
                None => attr(v).is_some(),
            })
    }
}

pub struct Events {
    tx: broadcast::Sender<Event>,
    history: Mutex<VecDeque<Event>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(HISTORY).0,
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
        }
    }
}

impl Events {
    pub fn emit(&self, e: Event) {
        let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if h.len() == HISTORY {
            h.pop_front();
        }
        h.push_back(e.clone());
        // Sent under the history lock, so a subscriber sees each event exactly once.
        let _ = self.tx.send(e);
    }

    /// The past events (oldest first) and a receiver for the ones after them.
    pub fn subscribe(&self) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        (h.iter().cloned().collect(), self.tx.subscribe())
    }
}

/// A container event's attributes: its labels, `name` and `image`, plus `extra`.
pub fn container_attributes(
    c: &crate::container::Container,
    extra: &[(&str, String)],
) -> HashMap<String, String> {
    let mut a: HashMap<String, String> = c.config.labels.clone().unwrap_or_default();
    a.insert("name".into(), c.name.clone());
    a.insert("image".into(), c.image_ref.clone());
    for (k, v) in extra {
        a.insert(k.to_string(), v.clone());
    }
    a
}

impl crate::Engine {
    pub fn events(&self) -> &Events {
        &self.events
    }

    pub(crate) fn container_event(
        &self,
        c: &crate::container::Container,
        action: &str,
        extra: &[(&str, String)],
    ) {
        self.events.emit(Event::new(
            "container",
            action,
            &c.id,
            container_attributes(c, extra),
        ));
    }

    pub(crate) fn network_event(
        &self,
        id: &str,
        name: &str,
        typ: &str,
        action: &str,
        container: Option<&str>,
    ) {
        let mut a = HashMap::from([
            ("name".to_string(), name.to_string()),
            ("type".to_string(), typ.to_string()),
        ]);
        if let Some(c) = container {
            a.insert("container".into(), c.to_string());
        }
        self.events.emit(Event::new("network", action, id, a));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_shape() {
        let e = Event::new(
            "container",
            "start",
            "abc123",
            HashMap::from([
                ("name".to_string(), "web".to_string()),
                ("image".to_string(), "bb:latest".to_string()),
                ("com.docker.compose.project".to_string(), "demo".to_string()),
            ]),
        );
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["status"], "start");
        assert_eq!(v["from"], "bb:latest");
        assert_eq!(v["Actor"]["Attributes"]["name"], "web");
        let f = |pairs: &[(&str, &str)]| {
            let mut m: crate::filters::Filters = HashMap::new();
            for (k, v) in pairs {
                m.entry(k.to_string()).or_default().push(v.to_string());
            }
            m
        };
        assert!(e.matches(&f(&[("label", "com.docker.compose.project=demo")])));
        assert!(!e.matches(&f(&[("label", "com.docker.compose.project=other")])));
        assert!(e.matches(&f(&[
            ("type", "container"),
            ("event", "start"),
            ("event", "die")
        ])));
        assert!(!e.matches(&f(&[("type", "network")])));
        assert!(e.matches(&f(&[("container", "web")])));
        assert!(e.matches(&f(&[("container", "abc")])));
        assert!(!e.matches(&f(&[("container", "db")])));
    }

    #[test]
    fn history_is_bounded_and_subscribers_see_new_events() {
        let ev = Events::default();
        for i in 0..HISTORY + 5 {
            ev.emit(Event::new(
                "network",
                "create",
                &i.to_string(),
                HashMap::new(),
            ));
        }
        let (past, mut rx) = ev.subscribe();
        assert_eq!(past.len(), HISTORY);
        assert_eq!(past[0].actor.id, "5");
        ev.emit(Event::new("network", "destroy", "x", HashMap::new()));
        assert_eq!(rx.try_recv().unwrap().action, "destroy");
    }
}
