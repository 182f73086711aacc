//! The embedded DNS server's view of the world, updated one container at a time.
//!
//! Every change (a container starts, stops, connects, disconnects; a remote overlay endpoint
//! appears or goes) replaces only what that one owner contributed, so the cost of an update
//! does not grow with the number of containers (a full rebuild on every attach made the
//! 1000th attach 30× slower than the 10th). Queries take a read lock for a few hash lookups.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// One owner's records on one network: the names it answers to there and its addresses.
#[derive(Debug, Clone, PartialEq)]
pub struct NetEntry {
    pub network_id: String,
    /// Canonical name for PTR answers (Docker's `name.network`).
    pub ptr_name: String,
    pub names: Vec<String>,
    pub addrs: Vec<IpAddr>,
}

/// Everything a local container contributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerDns {
    pub entries: Vec<NetEntry>,
    /// Where its other queries go (empty: no forwarding).
    pub upstreams: Vec<SocketAddr>,
    /// Legacy links on user-defined networks: (alias, target name), seen by this container only.
    pub links: Vec<(String, String)>,
}

#[derive(Default)]
pub struct DnsIndex {
    /// (network id, lower-case name) → addresses.
    names: HashMap<(String, String), Vec<IpAddr>>,
    /// (network id, address) → names, canonical first.
    ptr: HashMap<(String, IpAddr), Vec<String>>,
    /// Per owner (a container id, or `remote/<endpoint id>`): what it added.
    owners: HashMap<String, Vec<NetEntry>>,
    /// Local container → the user-defined networks it is on.
    nets_of: HashMap<String, Vec<String>>,
    upstreams: HashMap<String, Vec<SocketAddr>>,
    /// (asker, lower-case alias) → lower-case target name.
    links: HashMap<(String, String), String>,
    linkers: HashMap<String, Vec<String>>,
}

impl DnsIndex {
    /// Replaces what container `id` contributes (`None`: it contributes nothing any more).
    pub fn set_container(&mut self, id: &str, c: Option<ContainerDns>) {
        self.remove_owner(id);
        self.nets_of.remove(id);
        self.upstreams.remove(id);
        for alias in self.linkers.remove(id).unwrap_or_default() {
            self.links.remove(&(id.to_string(), alias));
        }
        let Some(c) = c.filter(|c| !c.entries.is_empty()) else {
            return;
        };
        let nets = c.entries.iter().map(|e| e.network_id.clone()).collect();
        self.nets_of.insert(id.to_string(), nets);
        self.upstreams.insert(id.to_string(), c.upstreams);
        let mut aliases = Vec::new();
        for (alias, target) in c.links {
            let alias = alias.to_lowercase();
            self.links
                .insert((id.to_string(), alias.clone()), target.to_lowercase());
            aliases.push(alias);
        }
        self.linkers.insert(id.to_string(), aliases);
        self.add_owner(id, c.entries);
    }

    /// Adds or removes an endpoint of another host (overlay networks).
    pub fn set_remote(&mut self, endpoint_id: &str, entry: Option<NetEntry>) {
        let owner = format!("remote/{endpoint_id}");
        self.remove_owner(&owner);
        if let Some(e) = entry {
            self.add_owner(&owner, vec![e]);
        }
    }

    fn add_owner(&mut self, owner: &str, entries: Vec<NetEntry>) {
        for e in &entries {
            for n in &e.names {
                let v = self
                    .names
                    .entry((e.network_id.clone(), n.to_lowercase()))
                    .or_default();
                for a in &e.addrs {
                    if !v.contains(a) {
                        v.push(*a);
                    }
                }
            }
            for a in &e.addrs {
                self.ptr
                    .entry((e.network_id.clone(), *a))
                    .or_insert_with(|| vec![e.ptr_name.clone()]);
            }
        }
        self.owners.insert(owner.to_string(), entries);
    }

    fn remove_owner(&mut self, owner: &str) {
        for e in self.owners.remove(owner).unwrap_or_default() {
            for n in &e.names {
                let key = (e.network_id.clone(), n.to_lowercase());
                if let Some(v) = self.names.get_mut(&key) {
                    v.retain(|a| !e.addrs.contains(a));
                    if v.is_empty() {
                        self.names.remove(&key);
                    }
                }
            }
            for a in &e.addrs {
                let key = (e.network_id.clone(), *a);
                if self
                    .ptr
                    .get(&key)
                    .is_some_and(|v| v.first() == Some(&e.ptr_name))
                {
                    self.ptr.remove(&key);
                }
            }
        }
    }

    /// Addresses of `name` on the networks `asker` is on; `None` if no such name there.
    pub fn lookup(&self, asker: &str, name: &str) -> Option<Vec<IpAddr>> {
        let name = match self.links.get(&(asker.to_string(), name.to_string())) {
            Some(target) => target.as_str(),
            None => name,
        };
        let mut out: Vec<IpAddr> = Vec::new();
        let mut found = false;
        for net in self.nets_of.get(asker)? {
            if let Some(a) = self.names.get(&(net.clone(), name.to_string())) {
                found = true;
                for x in a {
                    if !out.contains(x) {
                        out.push(*x);
                    }
                }
            }
        }
        found.then_some(out)
    }

    pub fn reverse(&self, asker: &str, addr: IpAddr) -> Option<Vec<String>> {
        self.nets_of
            .get(asker)?
            .iter()
            .find_map(|net| self.ptr.get(&(net.clone(), addr)).cloned())
    }

    pub fn upstreams(&self, asker: &str) -> Vec<SocketAddr> {
        self.upstreams.get(asker).cloned().unwrap_or_default()
    }

    /// How many (network, name) keys are held: for tests that check nothing is left behind.
    pub fn len(&self) -> usize {
        self.names.len() + self.ptr.len() + self.owners.len() + self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(net: &str, name: &str, ip: &str) -> NetEntry {
        NetEntry {
            network_id: net.into(),
            ptr_name: format!("{name}.{net}"),
            names: vec![name.into()],
            addrs: vec![ip.parse().unwrap()],
        }
    }

    fn on(entries: Vec<NetEntry>) -> Option<ContainerDns> {
        Some(ContainerDns {
            entries,
            ..Default::default()
        })
    }

    #[test]
    fn names_are_scoped_to_shared_networks() {
        let mut ix = DnsIndex::default();
        ix.set_container("a", on(vec![entry("n1", "web", "10.0.0.2")]));
        ix.set_container("b", on(vec![entry("n1", "db", "10.0.0.3")]));
        ix.set_container("c", on(vec![entry("n2", "other", "10.1.0.2")]));
        assert_eq!(
            ix.lookup("a", "db"),
            Some(vec!["10.0.0.3".parse().unwrap()])
        );
        assert_eq!(ix.lookup("c", "db"), None);
        assert_eq!(ix.lookup("nobody", "db"), None);
        assert_eq!(
            ix.reverse("b", "10.0.0.2".parse().unwrap()),
            Some(vec!["web.n1".to_string()])
        );
        assert_eq!(ix.reverse("c", "10.0.0.2".parse().unwrap()), None);
    }

    #[test]
    fn shared_alias_answers_every_holder_and_shrinks_on_removal() {
        let mut ix = DnsIndex::default();
        let mut a = entry("n1", "a", "10.0.0.2");
        a.names.push("svc".into());
        let mut b = entry("n1", "b", "10.0.0.3");
        b.names.push("SVC".into());
        ix.set_container("a", on(vec![a]));
        ix.set_container("b", on(vec![b]));
        assert_eq!(ix.lookup("a", "svc").unwrap().len(), 2);
        ix.set_container("b", None);
        assert_eq!(
            ix.lookup("a", "svc"),
            Some(vec!["10.0.0.2".parse().unwrap()])
        );
        assert_eq!(ix.lookup("a", "b"), None);
    }

    #[test]
    fn removing_everything_leaves_an_empty_index() {
        let mut ix = DnsIndex::default();
        ix.set_container(
            "a",
            Some(ContainerDns {
                entries: vec![entry("n1", "a", "10.0.0.2"), entry("n2", "a", "10.1.0.2")],
                upstreams: vec!["10.9.9.9:53".parse().unwrap()],
                links: vec![("al".into(), "b".into())],
            }),
        );
        ix.set_remote("e1", Some(entry("n1", "r", "10.0.0.9")));
        assert!(!ix.is_empty());
        ix.set_container("a", None);
        ix.set_remote("e1", None);
        assert!(ix.is_empty(), "left behind: {}", ix.len());
        assert!(ix.upstreams("a").is_empty());
    }

    #[test]
    fn link_alias_is_private_and_follows_the_target() {
        let mut ix = DnsIndex::default();
        ix.set_container(
            "a",
            Some(ContainerDns {
                entries: vec![entry("n1", "a", "10.0.0.2")],
                links: vec![("DB".into(), "dbc".into())],
                ..Default::default()
            }),
        );
        ix.set_container("b", on(vec![entry("n1", "dbc", "10.0.0.3")]));
        ix.set_container("x", on(vec![entry("n1", "x", "10.0.0.4")]));
        assert_eq!(
            ix.lookup("a", "db"),
            Some(vec!["10.0.0.3".parse().unwrap()])
        );
        assert_eq!(ix.lookup("x", "db"), None);
        // The target restarts with another address: the alias follows.
        ix.set_container("b", on(vec![entry("n1", "dbc", "10.0.0.7")]));
        assert_eq!(
            ix.lookup("a", "db"),
            Some(vec!["10.0.0.7".parse().unwrap()])
        );
    }

    #[test]
    fn remote_endpoints_are_seen_on_their_network() {
        let mut ix = DnsIndex::default();
        ix.set_container("a", on(vec![entry("ov", "a", "10.0.0.2")]));
        ix.set_remote("e9", Some(entry("ov", "far", "10.0.0.5")));
        assert_eq!(
            ix.lookup("a", "far"),
            Some(vec!["10.0.0.5".parse().unwrap()])
        );
        ix.set_remote("e9", None);
        assert_eq!(ix.lookup("a", "far"), None);
    }
}
