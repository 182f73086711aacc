//! A watch that survives etcd outages: list, then watch from the listed revision; on any
//! error, wait, re-list and report the difference.

use crate::Cluster;
use etcd_client::{EventType, WatchOptions};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Put {
        key: String,
        value: Vec<u8>,
    },
    /// `value` is the last value berth saw for the key.
    Delete {
        key: String,
        value: Vec<u8>,
    },
}

pub(crate) fn spawn(cluster: Arc<Cluster>, prefix: String) -> mpsc::Receiver<Event> {
    let (tx, rx) = mpsc::channel(1024);
    let weak = Arc::downgrade(&cluster);
    drop(cluster);
    tokio::spawn(async move {
        let mut known: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        loop {
            let Some(c) = weak.upgrade() else { return };
            if let Err(e) = follow(&c, &prefix, &mut known, &tx).await {
                if tx.is_closed() {
                    return;
                }
                tracing::warn!(prefix, "cluster watch interrupted: {e}; resyncing");
            }
            drop(c);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    rx
}

async fn follow(
    c: &Cluster,
    prefix: &str,
    known: &mut BTreeMap<String, Vec<u8>>,
    tx: &mpsc::Sender<Event>,
) -> crate::Result<()> {
    let (now, rev) = c.list(prefix).await?;
    let now: BTreeMap<String, Vec<u8>> = now.into_iter().collect();
    for (k, v) in known.iter() {
        if !now.contains_key(k) {
            let _ = tx
                .send(Event::Delete {
                    key: k.clone(),
                    value: v.clone(),
                })
                .await;
        }
    }
    for (k, v) in &now {
        if known.get(k) != Some(v) {
            let _ = tx
                .send(Event::Put {
                    key: k.clone(),
                    value: v.clone(),
                })
                .await;
        }
    }
    *known = now;
    let mut stream = c
        .client()
        .watch(
            prefix,
            Some(
                WatchOptions::new()
                    .with_prefix()
                    .with_prev_key()
                    .with_start_revision(rev + 1),
            ),
        )
        .await?;
    while let Some(resp) = stream.message().await? {
        if resp.canceled() {
            return Ok(());
        }
        for ev in resp.events() {
            let Some(kv) = ev.kv() else { continue };
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            let event = match ev.event_type() {
                EventType::Put => {
                    known.insert(key.clone(), kv.value().to_vec());
                    Event::Put {
                        key,
                        value: kv.value().to_vec(),
                    }
                }
                EventType::Delete => {
                    let value = known
                        .remove(&key)
                        .or_else(|| ev.prev_kv().map(|p| p.value().to_vec()))
                        .unwrap_or_default();
                    Event::Delete { key, value }
                }
            };
            if tx.send(event).await.is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}
