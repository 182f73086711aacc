//! Port specs: `-p/--publish`, `--expose` (go-connections `nat.ParsePortSpec`)
//! and the `PORTS` column of `ps` (docker/cli `DisplayablePorts`).

use std::net::IpAddr;

/// One container port bound to the host, as `-p` produces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// `"80/tcp"`
    pub port: String,
    /// Empty means all addresses.
    pub host_ip: String,
    /// Empty means "pick one"; may be a range like `"8000-8010"`.
    pub host_port: String,
}

fn split_proto_port(raw: &str) -> (String, String) {
    let parts: Vec<&str> = raw.split('/').collect();
    if parts.is_empty() || parts[0].is_empty() {
        return (String::new(), String::new());
    }
    if parts.len() == 1 || parts[1].is_empty() {
        return ("tcp".to_string(), parts[0].to_string());
    }
    (parts[1].to_string(), parts[0].to_string())
}

/// `"80"` or `"80-90"`.
pub fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let parse = |p: &str| p.parse::<u16>().map_err(|_| format!("invalid port: {p}"));
    match s.split_once('-') {
        None => {
            let p = parse(s)?;
            Ok((p, p))
        }
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            if b < a {
                return Err(format!("invalid range specified: {s}"));
            }
            Ok((a, b))
        }
    }
}

fn valid_proto(p: &str) -> bool {
    matches!(p, "tcp" | "udp" | "sctp")
}

/// Parses `[ip:][hostPort:]containerPort[/proto]`, with port ranges.
pub fn parse_publish(raw: &str) -> Result<Vec<PortMapping>, String> {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let (ip, host_port, container_port) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        3 => (parts[0].to_string(), parts[1], parts[2]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let (proto, container_port) = split_proto_port(container_port);
    let mut ip = ip;
    if let Some(inner) = ip.strip_prefix('[') {
        match inner.strip_suffix(']') {
            Some(i) => ip = i.to_string(),
            None => return Err(format!("invalid IP address {ip}")),
        }
    }
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    if container_port.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let (start, end) = parse_port_range(&container_port)
        .map_err(|_| format!("invalid containerPort: {container_port}"))?;
    let (mut hstart, mut hend) = (0u16, 0u16);
    if !host_port.is_empty() {
        (hstart, hend) =
            parse_port_range(host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?;
    }
    if !host_port.is_empty() && (end - start) != (hend - hstart) && end != start {
        return Err(format!(
            "invalid ranges specified for container and host Ports: {container_port} and {host_port}"
        ));
    }
    let proto = proto.to_lowercase();
    if !valid_proto(&proto) {
        return Err(format!("invalid proto: {proto}"));
    }
    let mut out = Vec::new();
    for i in 0..=(end - start) {
        let cport = start + i;
        let mut hp = String::new();
        if !host_port.is_empty() {
            hp = (hstart + i).to_string();
            if start == end && hstart != hend {
                hp = format!("{hstart}-{hend}");
            }
        }
        out.push(PortMapping {
            port: format!("{cport}/{proto}"),
            host_ip: ip.clone(),
            host_port: hp,
        });
    }
    Ok(out)
}

/// Parses `--expose 80`, `80/udp`, `8000-8010/tcp` into `"port/proto"` keys.
pub fn parse_expose(raw: &str) -> Result<Vec<String>, String> {
    let (proto, port) = split_proto_port(raw);
    if port.is_empty() {
        return Err(format!("invalid range format for --expose: {raw}"));
    }
    let (start, end) = parse_port_range(&port)
        .map_err(|e| format!("invalid range format for --expose: {raw}, error: {e}"))?;
    let proto = proto.to_lowercase();
    if !valid_proto(&proto) {
        return Err(format!("invalid proto: {proto}"));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// One entry of a container summary's `Ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryPort {
    pub ip: String,
    pub private_port: u16,
    pub public_port: u16,
    pub typ: String,
}

fn join_host_port(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

fn form_group(key: &str, first: u16, last: u16) -> String {
    let (ip, typ) = match key.rsplit_once('/') {
        Some((ip, typ)) => (ip, typ),
        None => ("", key),
    };
    let mut group = first.to_string();
    if first != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{ip}:{group}->{group}");
    }
    format!("{group}/{typ}")
}

/// docker/cli `DisplayablePorts`: `0.0.0.0:8080->80/tcp, 443/tcp`.
pub fn displayable_ports(ports: &[SummaryPort]) -> String {
    let mut ports = ports.to_vec();
    ports.sort_by(|a, b| {
        a.private_port
            .cmp(&b.private_port)
            .then_with(|| a.ip.cmp(&b.ip))
            .then_with(|| a.public_port.cmp(&b.public_port))
            .then_with(|| a.typ.cmp(&b.typ))
    });
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for p in &ports {
        let current = p.private_port;
        let mut key = p.typ.clone();
        if !p.ip.is_empty() {
            if p.public_port != current {
                host_mappings.push(format!(
                    "{}->{}/{}",
                    join_host_port(&p.ip, p.public_port),
                    p.private_port,
                    p.typ
                ));
                continue;
            }
            key = format!("{}/{}", p.ip, p.typ);
        }
        match groups.iter_mut().find(|g| g.0 == key) {
            None => groups.push((key, current, current)),
            Some(g) => {
                if u32::from(current) == u32::from(g.2) + 1 {
                    g.2 = current;
                } else {
                    result.push(form_group(&g.0, g.1, g.2));
                    g.1 = current;
                    g.2 = current;
                }
            }
        }
    }
    for (key, first, last) in &groups {
        result.push(form_group(key, *first, *last));
    }
    result.extend(host_mappings);
    result.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(port: &str, ip: &str, hp: &str) -> PortMapping {
        PortMapping {
            port: port.to_string(),
            host_ip: ip.to_string(),
            host_port: hp.to_string(),
        }
    }

    #[test]
    fn publish_forms() {
        assert_eq!(parse_publish("80"), Ok(vec![m("80/tcp", "", "")]));
        assert_eq!(parse_publish("8080:80"), Ok(vec![m("80/tcp", "", "8080")]));
        assert_eq!(
            parse_publish("127.0.0.1:8080:80/udp"),
            Ok(vec![m("80/udp", "127.0.0.1", "8080")])
        );
        assert_eq!(
            parse_publish("127.0.0.1::80"),
            Ok(vec![m("80/tcp", "127.0.0.1", "")])
        );
        assert_eq!(
            parse_publish("[::1]:8080:80/sctp"),
            Ok(vec![m("80/sctp", "::1", "8080")])
        );
        assert_eq!(
            parse_publish("::1:8080:80"),
            Ok(vec![m("80/tcp", "::1", "8080")])
        );
        assert_eq!(parse_publish("80/TCP"), Ok(vec![m("80/tcp", "", "")]));
    }

    #[test]
    fn publish_ranges() {
        assert_eq!(
            parse_publish("8000-8001:80-81"),
            Ok(vec![m("80/tcp", "", "8000"), m("81/tcp", "", "8001")])
        );
        assert_eq!(
            parse_publish("8000-8010:80"),
            Ok(vec![m("80/tcp", "", "8000-8010")])
        );
        assert_eq!(
            parse_publish("7000-7001/udp"),
            Ok(vec![m("7000/udp", "", ""), m("7001/udp", "", "")])
        );
        assert!(parse_publish("8000:80-81").is_err());
        assert!(parse_publish("81-80").is_err());
    }

    #[test]
    fn publish_errors_name_the_value() {
        assert_eq!(
            parse_publish("1.2.3:80:80"),
            Err("invalid IP address: 1.2.3".to_string())
        );
        assert_eq!(
            parse_publish("abc"),
            Err("invalid containerPort: abc".to_string())
        );
        assert_eq!(
            parse_publish("x:80"),
            Err("invalid hostPort: x".to_string())
        );
        assert_eq!(
            parse_publish("80/foo"),
            Err("invalid proto: foo".to_string())
        );
        assert_eq!(
            parse_publish("8080:"),
            Err("no port specified: 8080:<empty>".to_string())
        );
        assert!(parse_publish("70000").is_err());
    }

    #[test]
    fn expose_forms() {
        assert_eq!(parse_expose("80"), Ok(vec!["80/tcp".to_string()]));
        assert_eq!(
            parse_expose("53-54/udp"),
            Ok(vec!["53/udp".to_string(), "54/udp".to_string()])
        );
        assert!(parse_expose("x").is_err());
        assert!(parse_expose("80/xyz").is_err());
    }

    fn sp(ip: &str, private: u16, public: u16, typ: &str) -> SummaryPort {
        SummaryPort {
            ip: ip.to_string(),
            private_port: private,
            public_port: public,
            typ: typ.to_string(),
        }
    }

    #[test]
    fn displayable() {
        assert_eq!(displayable_ports(&[]), "");
        assert_eq!(
            displayable_ports(&[sp("0.0.0.0", 80, 8080, "tcp")]),
            "0.0.0.0:8080->80/tcp"
        );
        assert_eq!(
            displayable_ports(&[sp("0.0.0.0", 80, 8080, "tcp"), sp("::", 80, 8080, "tcp")]),
            "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
        assert_eq!(
            displayable_ports(&[
                sp("", 80, 0, "tcp"),
                sp("", 81, 0, "tcp"),
                sp("", 443, 0, "tcp")
            ]),
            "80-81/tcp, 443/tcp"
        );
        assert_eq!(
            displayable_ports(&[sp("0.0.0.0", 9000, 9000, "udp")]),
            "0.0.0.0:9000->9000/udp"
        );
        assert_eq!(
            displayable_ports(&[sp("", 53, 0, "udp"), sp("0.0.0.0", 80, 8080, "tcp")]),
            "53/udp, 0.0.0.0:8080->80/tcp"
        );
    }
}
