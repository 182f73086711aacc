use super::*;
use hickory_proto::op::{Edns as HEdns, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use rand::{Rng, SeedableRng};
use std::collections::HashSet;

/// Container "c1" sees a few names; "internal" sees them too but may not forward; anyone else
/// sees nothing.
struct Fake;

const UPSTREAM: &str = "192.0.2.53:53";

impl Records for Fake {
    fn lookup(&self, asker: &str, name: &str) -> Option<Vec<IpAddr>> {
        if asker != "c1" && asker != "internal" {
            return None;
        }
        let v4 = |d: u8| IpAddr::V4(Ipv4Addr::new(10, 0, 0, d));
        Some(match name {
            "web" | "web.mynet" | "0123456789ab" => vec![v4(2)],
            "db" => vec![v4(3), "fd00::3".parse().unwrap()],
            "v6only" => vec!["fd00::4".parse().unwrap()],
            "alias" => vec![v4(5), v4(6), v4(7), v4(8)],
            "many" => (0..100).map(|i| v4(100 + i)).collect(),
            "empty" => vec![],
            _ => return None,
        })
    }

    fn reverse(&self, asker: &str, addr: IpAddr) -> Option<Vec<String>> {
        if asker != "c1" {
            return None;
        }
        match addr.to_string().as_str() {
            "10.0.0.2" => Some(vec!["web.mynet".into(), "web".into()]),
            "fd00::3" => Some(vec!["db.mynet.".into()]),
            "10.0.0.9" => Some(vec!["bad..name".into(), "ok.mynet".into()]),
            _ => None,
        }
    }

    fn upstreams(&self, asker: &str) -> Vec<SocketAddr> {
        if asker == "internal" {
            vec![]
        } else {
            vec![UPSTREAM.parse().unwrap()]
        }
    }
}

fn query(name: &str, rtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    let name = if name.contains(' ') {
        // Labels that are no hostname (hickory's parser would refuse the text).
        let labels: Vec<&[u8]> = name.split('.').map(str::as_bytes).collect();
        Name::from_labels(labels).unwrap()
    } else {
        Name::from_ascii(name).unwrap()
    };
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name, rtype));
    if let Some(size) = edns {
        let mut e = HEdns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

fn run(asker: &str, q: &[u8], t: Transport) -> (Decision, Vec<u8>) {
    let mut out = Vec::new();
    let d = handle(q, asker, &Fake, t, &mut out);
    (d, out)
}

/// Answers `q` for c1 over UDP; the reply parsed.
fn reply(q: &[u8]) -> Message {
    reply_as("c1", q, Transport::Udp)
}

fn reply_as(asker: &str, q: &[u8], t: Transport) -> Message {
    let (d, out) = run(asker, q, t);
    assert_eq!(d, Decision::Reply);
    let m = Message::from_vec(&out).expect("reply parses");
    assert_eq!(m.metadata.id, u16::from_be_bytes([q[0], q[1]]));
    assert_eq!(
        m.metadata.message_type,
        hickory_proto::op::MessageType::Response
    );
    m
}

fn addrs(m: &Message) -> Vec<IpAddr> {
    m.answers
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => IpAddr::V4(a.0),
            RData::AAAA(a) => IpAddr::V6(a.0),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn a_record_for_a_known_name() {
    let q = query("web.", RecordType::A, None);
    let m = reply(&q);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert!(m.metadata.recursion_desired);
    assert!(m.metadata.recursion_available);
    assert!(!m.metadata.truncation);
    assert_eq!(addrs(&m), vec!["10.0.0.2".parse::<IpAddr>().unwrap()]);
    assert_eq!(m.answers[0].ttl, LOCAL_TTL);
    assert_eq!(m.answers[0].name, Name::from_ascii("web.").unwrap());
    assert_eq!(m.queries.len(), 1);
    assert!(m.edns.is_none());
}

#[test]
fn names_with_dots_and_short_ids_are_looked_up() {
    let m = reply(&query("web.mynet", RecordType::A, None));
    assert_eq!(addrs(&m).len(), 1);
    let m = reply(&query("0123456789AB", RecordType::A, None));
    assert_eq!(addrs(&m).len(), 1);
}

#[test]
fn case_insensitive_and_case_preserving() {
    let q = query("WeB.", RecordType::A, None);
    let (_, out) = run("c1", &q, Transport::Udp);
    // The question is echoed byte for byte (DNS 0x20).
    assert_eq!(&out[12..12 + 5], b"\x03WeB\x00");
    let m = Message::from_vec(&out).unwrap();
    assert_eq!(addrs(&m).len(), 1);
    // Without a trailing dot (hickory makes it relative; same wire form).
    let m = reply(&query("WEB", RecordType::A, None));
    assert_eq!(addrs(&m).len(), 1);
}

#[test]
fn aaaa_and_any() {
    let m = reply(&query("db", RecordType::AAAA, None));
    assert_eq!(addrs(&m), vec!["fd00::3".parse::<IpAddr>().unwrap()]);
    let m = reply(&query("db", RecordType::ANY, None));
    assert_eq!(
        addrs(&m),
        vec![
            "10.0.0.3".parse::<IpAddr>().unwrap(),
            "fd00::3".parse().unwrap()
        ]
    );
}

#[test]
fn known_name_without_that_family_is_nodata_not_nxdomain() {
    for (name, t) in [
        ("web", RecordType::AAAA),
        ("v6only", RecordType::A),
        ("empty", RecordType::A),
        ("web", RecordType::MX),
        ("web", RecordType::TXT),
    ] {
        let m = reply(&query(name, t, None));
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::NoError,
            "{name} {t}"
        );
        assert!(m.answers.is_empty(), "{name} {t}");
        assert!(m.metadata.authoritative);
    }
}

#[test]
fn unknown_single_label_is_nxdomain_without_forwarding() {
    let m = reply(&query("nosuch", RecordType::A, None));
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.answers.is_empty());
    // Also for names other containers could see but this asker cannot.
    let m = reply_as(
        "stranger",
        &query("web", RecordType::A, None),
        Transport::Udp,
    );
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    // And for single labels that are not hostnames at all.
    let m = reply(&query("we b", RecordType::A, None));
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn unknown_dotted_names_are_forwarded() {
    let q = query("Example.COM.", RecordType::A, Some(1232));
    let (d, out) = run("c1", &q, Transport::Udp);
    let Decision::Forward(f) = d else {
        panic!("expected a forward, got {d:?}")
    };
    assert!(out.is_empty());
    assert_eq!(f.upstreams, vec![UPSTREAM.parse::<SocketAddr>().unwrap()]);
    assert_eq!(f.info.qtype, 1);
    assert_eq!(f.info.limit, 1232);
    assert_eq!(f.info.edns, Some(Edns { dnssec_ok: false }));
    assert_eq!(f.info.question(&q), &q[12..q.len() - 11]);
    // The root and odd names are forwarded too.
    let (d, _) = run("c1", &query(".", RecordType::NS, None), Transport::Udp);
    assert!(matches!(d, Decision::Forward(_)));
    let (d, _) = run(
        "c1",
        &query("a b.example.com", RecordType::A, None),
        Transport::Udp,
    );
    assert!(matches!(d, Decision::Forward(_)));
}

#[test]
fn no_upstreams_nxdomain_for_names_refused_otherwise() {
    let m = reply_as(
        "internal",
        &query("example.com", RecordType::A, None),
        Transport::Udp,
    );
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    let m = reply_as(
        "internal",
        &query("example.com", RecordType::MX, None),
        Transport::Udp,
    );
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    let m = reply_as(
        "internal",
        &query("web", RecordType::A, None),
        Transport::Udp,
    );
    assert_eq!(addrs(&m).len(), 1);
}

#[test]
fn ptr_for_known_addresses() {
    let m = reply(&query("2.0.0.10.in-addr.arpa.", RecordType::PTR, None));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let names: Vec<String> = m
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::PTR(p) => p.0.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, vec!["web.mynet.", "web."]);
    assert_eq!(m.answers[0].ttl, LOCAL_TTL);

    let v6 = "3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
    let m = reply(&query(v6, RecordType::PTR, None));
    assert_eq!(m.answers.len(), 1);
    assert!(matches!(&m.answers[0].data, RData::PTR(p) if p.0.to_string() == "db.mynet."));

    // Invalid names from the engine are skipped, not sent.
    let m = reply(&query("9.0.0.10.in-addr.arpa", RecordType::PTR, None));
    assert_eq!(m.answers.len(), 1);

    // Unknown addresses and non-address names under arpa are forwarded.
    for n in [
        "3.3.3.10.in-addr.arpa",
        "0.10.in-addr.arpa",
        "256.0.0.10.in-addr.arpa",
        "02.0.0.10.in-addr.arpa",
        "x.ip6.arpa",
    ] {
        let (d, _) = run("c1", &query(n, RecordType::PTR, None), Transport::Udp);
        assert!(matches!(d, Decision::Forward(_)), "{n}");
    }
}

#[test]
fn reverse_names_parse() {
    assert_eq!(
        reverse_name("4.3.2.1.in-addr.arpa"),
        Some("1.2.3.4".parse().unwrap())
    );
    assert_eq!(reverse_name("1.2.3.in-addr.arpa"), None);
    assert_eq!(reverse_name("1.2.3.4.5.in-addr.arpa"), None);
    assert_eq!(reverse_name("1..3.4.in-addr.arpa"), None);
    let nibbles = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa";
    assert_eq!(reverse_name(nibbles), Some("::1".parse().unwrap()));
    assert_eq!(reverse_name(&format!("0.{nibbles}")), None);
    assert_eq!(reverse_name("example.com"), None);
}

#[test]
fn several_addresses_come_back_shuffled() {
    let q = query("alias", RecordType::A, None);
    let mut firsts = HashSet::new();
    for _ in 0..200 {
        let got = addrs(&reply(&q));
        assert_eq!(got.len(), 4);
        assert_eq!(got.iter().collect::<HashSet<_>>().len(), 4);
        firsts.insert(got[0]);
    }
    assert!(firsts.len() >= 3, "round robin: {firsts:?}");
}

#[test]
fn oversized_answers_set_tc_and_fit_the_limit() {
    // 100 A records need 12 + 9 + 1600 bytes.
    let q = query("many", RecordType::A, None);
    let (_, out) = run("c1", &q, Transport::Udp);
    assert!(out.len() <= 512);
    let m = Message::from_vec(&out).unwrap();
    assert!(m.metadata.truncation);
    assert_eq!(m.answers.len(), (512 - 12 - 10) / 16);

    // A small EDNS size is raised to 512; a large one is honoured up to 4096.
    let (_, out) = run(
        "c1",
        &query("many", RecordType::A, Some(100)),
        Transport::Udp,
    );
    assert!(out.len() <= 512);
    assert!(Message::from_vec(&out).unwrap().metadata.truncation);
    let (_, out) = run(
        "c1",
        &query("many", RecordType::A, Some(1232)),
        Transport::Udp,
    );
    assert!(out.len() <= 1232);
    let m = Message::from_vec(&out).unwrap();
    assert!(m.metadata.truncation);
    assert_eq!(m.answers.len(), (1232 - 12 - 10 - 11) / 16);
    assert!(m.edns.is_some());
    let m = reply(&query("many", RecordType::A, Some(4096)));
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 100);

    // TCP has room for everything.
    let m = reply_as("c1", &query("many", RecordType::A, None), Transport::Tcp);
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 100);
}

#[test]
fn edns_is_echoed_and_versions_checked() {
    let m = reply(&query("web", RecordType::A, Some(1232)));
    let e = m.edns.expect("OPT in reply");
    assert_eq!(e.max_payload() as usize, MAX_UDP_PAYLOAD);
    assert!(!e.flags().dnssec_ok);

    let mut qm = Message::from_vec(&query("web", RecordType::A, Some(1232))).unwrap();
    qm.edns.as_mut().unwrap().set_dnssec_ok(true);
    let m = reply(&qm.to_vec().unwrap());
    assert!(m.edns.unwrap().flags().dnssec_ok);

    qm.edns.as_mut().unwrap().set_version(1);
    let m = reply(&qm.to_vec().unwrap());
    // BADVERS and BADSIG share code 16.
    assert_eq!(u16::from(m.metadata.response_code), 16);
    assert!(m.answers.is_empty());
}

#[test]
fn refused_for_zone_transfers_and_other_classes() {
    let m = reply(&query("example.com", RecordType::AXFR, None));
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    let mut qm = Message::from_vec(&query("web", RecordType::A, None)).unwrap();
    qm.queries[0].query_class = hickory_proto::rr::DNSClass::CH;
    let m = reply(&qm.to_vec().unwrap());
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
}

/// A reply that is only a header (FORMERR, NOTIMP): never longer than the query.
fn assert_header_only(q: &[u8], code: ResponseCode) {
    let (d, out) = run("c1", q, Transport::Udp);
    assert_eq!(d, Decision::Reply, "{q:02x?}");
    assert_eq!(out.len(), 12);
    assert!(out.len() <= q.len());
    assert_eq!(&out[..2], &q[..2]);
    assert_eq!(out[2] & 0x80, 0x80);
    assert_eq!(ResponseCode::from(0, out[3] & 0xF), code);
}

#[test]
fn malformed_queries_get_formerr_or_nothing() {
    let good = query("web", RecordType::A, None);
    // Too short for a header; responses.
    for n in 0..12 {
        assert_eq!(run("c1", &good[..n], Transport::Udp).0, Decision::Drop);
    }
    let mut resp = good.clone();
    resp[2] |= 0x80;
    assert_eq!(run("c1", &resp, Transport::Udp).0, Decision::Drop);
    // Truncated anywhere in the question.
    for n in 12..good.len() {
        assert_header_only(&good[..n], ResponseCode::FormErr);
    }
    // No question, several questions, huge counts.
    let mut q = good.clone();
    q[4..6].copy_from_slice(&0u16.to_be_bytes());
    assert_header_only(&q, ResponseCode::FormErr);
    q[4..6].copy_from_slice(&2u16.to_be_bytes());
    assert_header_only(&q, ResponseCode::FormErr);
    q[4..6].copy_from_slice(&0xFFFFu16.to_be_bytes());
    assert_header_only(&q, ResponseCode::FormErr);
    let mut q = good.clone();
    for at in [6, 8, 10] {
        q[at..at + 2].copy_from_slice(&0xFFFFu16.to_be_bytes());
    }
    assert_header_only(&q, ResponseCode::FormErr);
    // A compression pointer loop in the question name (pointing at itself).
    let mut q = good[..12].to_vec();
    q.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
    assert_header_only(&q, ResponseCode::FormErr);
    // A pointer loop in an additional record's name.
    let mut q = good.clone();
    q[10..12].copy_from_slice(&1u16.to_be_bytes());
    let at = q.len() as u8;
    q.extend_from_slice(&[0xC0, at, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert_header_only(&q, ResponseCode::FormErr);
    // Two pointers pointing at each other.
    let mut q = good.clone();
    q[10..12].copy_from_slice(&1u16.to_be_bytes());
    let at = q.len() as u8;
    q.extend_from_slice(&[0xC0, at + 2, 0xC0, at, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert_header_only(&q, ResponseCode::FormErr);
    // A label longer than 63 and reserved label types.
    let mut q = good[..12].to_vec();
    q.push(64);
    q.extend_from_slice(&[b'a'; 64]);
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    assert_header_only(&q, ResponseCode::FormErr);
    let mut q = good.clone();
    q[12] = 0x43;
    assert_header_only(&q, ResponseCode::FormErr);
    // A name over 255 bytes.
    let mut q = good[..12].to_vec();
    for _ in 0..5 {
        q.push(60);
        q.extend_from_slice(&[b'a'; 60]);
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    assert_header_only(&q, ResponseCode::FormErr);
    // Two OPT records.
    let mut q = query("web", RecordType::A, Some(1232));
    let opt = q[q.len() - 11..].to_vec();
    q.extend_from_slice(&opt);
    q[10..12].copy_from_slice(&2u16.to_be_bytes());
    assert_header_only(&q, ResponseCode::FormErr);
    // Other opcodes.
    let mut q = good.clone();
    q[2] |= u8::from(OpCode::Notify) << 3;
    assert_header_only(&q, ResponseCode::NotImp);
}

/// Random bytes and mutated valid queries: no panic, and no reply ever exceeds the limit (or the
/// query itself, when it is a bare error header).
#[test]
fn fuzz_handle_with_random_input() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xB3A7_D115);
    let seeds = [
        query("web", RecordType::A, None),
        query("db.", RecordType::AAAA, Some(1232)),
        query("many", RecordType::A, Some(600)),
        query("2.0.0.10.in-addr.arpa", RecordType::PTR, None),
        query("example.com", RecordType::MX, Some(4096)),
    ];
    let askers = ["c1", "internal", "stranger"];
    let mut out = Vec::new();
    let mut replies = 0;
    for i in 0..100_000 {
        let q: Vec<u8> = if i % 2 == 0 {
            let len = rng.random_range(0..300);
            let mut q: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            // Make plausible headers common: a query with one question.
            if q.len() >= 12 && rng.random_bool(0.7) {
                q[2] &= 0x07;
                q[4] = 0;
                q[5] = 1;
            }
            q
        } else {
            let mut q = seeds[rng.random_range(0..seeds.len())].clone();
            for _ in 0..rng.random_range(1..6) {
                match rng.random_range(0..4) {
                    0 => {
                        let at = rng.random_range(0..q.len());
                        q[at] ^= 1 << rng.random_range(0..8);
                    }
                    1 => {
                        let at = rng.random_range(0..q.len());
                        q[at] = rng.random();
                    }
                    2 => q.truncate(rng.random_range(0..q.len().max(1))),
                    _ => q.extend((0..rng.random_range(1..20)).map(|_| rng.random::<u8>())),
                }
                if q.is_empty() {
                    break;
                }
            }
            q
        };
        let asker = askers[i % askers.len()];
        let transport = if i % 7 == 0 {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        match handle(&q, asker, &Fake, transport, &mut out) {
            Decision::Reply => {
                replies += 1;
                assert!(q.len() >= 12);
                if transport == Transport::Udp {
                    assert!(out.len() <= MAX_UDP_PAYLOAD, "{q:02x?}");
                }
                // Replies are well-formed DNS messages with the query's id.
                let m = Message::from_vec(&out).unwrap_or_else(|e| panic!("{e}: {q:02x?}"));
                assert_eq!(&out[..2], &q[..2]);
                let code = m.metadata.response_code;
                if matches!(code, ResponseCode::FormErr | ResponseCode::NotImp) {
                    assert!(out.len() <= q.len(), "{q:02x?}");
                }
            }
            Decision::Drop => assert!(out.is_empty()),
            Decision::Forward(f) => {
                assert!(out.is_empty());
                assert!(!f.upstreams.is_empty());
                assert!(f.info.question_end <= q.len());
                // The query turned into a reply stands for the upstream's answer.
                let mut resp = q.clone();
                resp[2] |= 0x80;
                if check_upstream(&resp, f.info.question(&q)).is_some() {
                    relay(&q, &f.info, &resp, &mut out);
                    assert!(out.len() <= f.info.limit);
                    Message::from_vec(&out).unwrap_or_else(|e| panic!("{e}: {q:02x?}"));
                }
            }
        }
    }
    assert!(replies > 10_000, "{replies}");
}

fn upstream_reply(q: &[u8], answers: &[(&str, u32)]) -> Vec<u8> {
    let mut m = Message::from_vec(q).unwrap();
    m.metadata.message_type = hickory_proto::op::MessageType::Response;
    let name = m.queries[0].name.clone();
    for (a, ttl) in answers {
        m.add_answer(Record::from_rdata(
            name.clone(),
            *ttl,
            RData::A(hickory_proto::rr::rdata::A(a.parse().unwrap())),
        ));
    }
    m.to_vec().unwrap()
}

#[test]
fn upstream_replies_are_checked() {
    let q = query("example.com", RecordType::A, Some(1232));
    let Decision::Forward(f) = run("c1", &q, Transport::Udp).0 else {
        panic!()
    };
    let question = f.info.question(&q);
    let resp = upstream_reply(&q, &[("192.0.2.1", 300), ("192.0.2.2", 60)]);
    let r = check_upstream(&resp, question).expect("valid");
    assert_eq!(r.rcode, 0);
    assert_eq!(r.answers, 2);
    assert_eq!(r.min_ttl, Some(60));
    assert_eq!(r.ttl_offsets.len(), 2); // OPT's TTL is not a TTL
    for &o in &r.ttl_offsets {
        let o = o as usize;
        assert!([300, 60].contains(&u32::from_be_bytes(resp[o..o + 4].try_into().unwrap())));
    }
    // Truncated, trailing garbage, not a response, other question: rejected.
    for n in 0..resp.len() {
        assert!(check_upstream(&resp[..n], question).is_none(), "{n}");
    }
    let mut long = resp.clone();
    long.push(0);
    assert!(check_upstream(&long, question).is_none());
    let mut notresp = resp.clone();
    notresp[2] &= 0x7F;
    assert!(check_upstream(&notresp, question).is_none());
    let other = query("example.org", RecordType::A, Some(1232));
    assert!(check_upstream(&upstream_reply(&other, &[]), question).is_none());
    // The upstream may change the letter case of the question.
    let upper = query("EXAMPLE.com", RecordType::A, Some(1232));
    assert!(check_upstream(&upstream_reply(&upper, &[]), question).is_some());
}

#[test]
fn relay_restores_id_and_case_and_truncates() {
    let q = query("ExAmple.com", RecordType::A, None);
    let Decision::Forward(f) = run("c1", &q, Transport::Udp).0 else {
        panic!()
    };
    let mut upq = query("example.com", RecordType::A, None);
    upq[..2].copy_from_slice(&[0x12, 0x34]);
    let resp = upstream_reply(&upq, &[("192.0.2.1", 300)]);
    let mut out = Vec::new();
    assert!(relay(&q, &f.info, &resp, &mut out));
    assert_eq!(&out[..2], &q[..2]);
    assert_eq!(&out[12..f.info.question_end], f.info.question(&q));
    assert_eq!(addrs(&Message::from_vec(&out).unwrap()).len(), 1);

    // Too big for a 512-byte client: empty, TC set.
    let many: Vec<(String, u32)> = (0..40).map(|i| (format!("192.0.2.{i}"), 300)).collect();
    let many: Vec<(&str, u32)> = many.iter().map(|(a, t)| (a.as_str(), *t)).collect();
    let big = upstream_reply(&upq, &many);
    assert!(big.len() > 512);
    assert!(!relay(&q, &f.info, &big, &mut out));
    let m = Message::from_vec(&out).unwrap();
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty());
    assert_eq!(&out[..2], &q[..2]);
}

#[test]
fn servfail_reply_carries_question_and_opt() {
    let q = query("example.com", RecordType::A, Some(1232));
    let Decision::Forward(f) = run("c1", &q, Transport::Udp).0 else {
        panic!()
    };
    let mut out = Vec::new();
    error_reply(&q, &f.info, rcode::SERVFAIL, &mut out);
    let m = Message::from_vec(&out).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(m.queries.len(), 1);
    assert!(m.edns.is_some());
    assert!(!m.metadata.authoritative);
}

/// `query` with an EDNS option (code, data) appended to its OPT record.
fn with_option(mut q: Vec<u8>, code: u16, data: &[u8]) -> Vec<u8> {
    let at = q.len() - 2; // OPT rdlength
    let rdlen = u16::from_be_bytes([q[at], q[at + 1]]) as usize + 4 + data.len();
    q[at..].copy_from_slice(&(rdlen as u16).to_be_bytes());
    q.extend_from_slice(&code.to_be_bytes());
    q.extend_from_slice(&(data.len() as u16).to_be_bytes());
    q.extend_from_slice(data);
    q
}

#[test]
fn options_are_accepted_and_fast_path_used() {
    let q = with_option(query("web", RecordType::A, Some(1232)), 10, &[7; 8]);
    let qend = QName::read(&q).unwrap().wire_end + 4;
    assert!(validate_simple(&q, qend).is_some());
    let m = reply(&q);
    assert_eq!(addrs(&m).len(), 1);
    // Client subnet goes through hickory (and is fine when well-formed).
    let ecs = with_option(
        query("web", RecordType::A, Some(1232)),
        8,
        &[0, 1, 24, 0, 10, 0, 0],
    );
    assert!(validate_simple(&ecs, qend).is_none());
    assert_eq!(addrs(&reply(&ecs)).len(), 1);
    // An option longer than the OPT record is not the simple shape (hickory skips it).
    let mut odd = q.clone();
    let at = odd.len() - 8 - 2; // the option's length
    odd[at..at + 2].copy_from_slice(&9u16.to_be_bytes());
    assert!(validate_simple(&odd, qend).is_none());
    assert_eq!(run("c1", &odd, Transport::Udp).0, Decision::Reply);
    // An OPT record longer than the message is malformed.
    let mut bad = q.clone();
    let at = bad.len() - 12 - 2; // OPT rdlength
    bad[at..at + 2].copy_from_slice(&20u16.to_be_bytes());
    assert!(validate_simple(&bad, qend).is_none());
    assert_header_only(&bad, ResponseCode::FormErr);
}

/// Whatever the exact-layout check accepts, hickory's parser accepts too, with the same EDNS.
#[test]
fn fast_validation_agrees_with_hickory() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xFA57);
    let seeds = [
        query("web", RecordType::A, None),
        query("db.example", RecordType::AAAA, Some(1232)),
        with_option(query("x.y", RecordType::A, Some(4096)), 10, &[1; 8]),
        with_option(
            with_option(query("x", RecordType::TXT, Some(512)), 3, &[]),
            12,
            &[0; 20],
        ),
    ];
    let mut fast = 0;
    for _ in 0..100_000 {
        let mut q = seeds[rng.random_range(0..seeds.len())].clone();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..q.len());
            match rng.random_range(0..3) {
                0 => q[at] ^= 1 << rng.random_range(0..8),
                1 => q[at] = rng.random_range(0..16),
                _ => q.truncate(at.max(12)),
            }
        }
        let Some(name) = QName::read(&q) else {
            continue;
        };
        let qend = name.wire_end + 4;
        if qend > q.len() {
            continue;
        }
        if let Some(edns) = validate_simple(&q, qend) {
            fast += 1;
            let m =
                Message::from_vec(&q).unwrap_or_else(|e| panic!("hickory rejects {q:02x?}: {e}"));
            assert_eq!(m.queries.len(), 1);
            let theirs = m.edns.map(|e| OptInfo {
                payload: e.max_payload(),
                version: e.version(),
                dnssec_ok: e.flags().dnssec_ok,
            });
            assert_eq!(edns, theirs, "{q:02x?}");
        }
    }
    assert!(fast > 10_000, "{fast}");
}
