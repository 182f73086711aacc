//! The pure part of the resolver: query bytes + [`Records`] → response bytes, or a decision to
//! forward the query upstream. No I/O, no clocks, no sockets; everything here is unit-tested and
//! fuzzed (see `tests` below and `fuzz/`).
//!
//! Every query is validated whole before it is answered: the usual shape (one question, maybe
//! one OPT record) by an exact-layout check down to the last byte, anything else by
//! hickory-proto's full parser (after a header pre-check that rejects hostile counts before
//! anything is allocated); a differential test keeps the two in agreement. The question name is
//! read straight from the wire, uncompressed labels only. Replies are then written by hand into the
//! caller's reusable buffer: header, the question section copied byte for byte from the query
//! (so the asker's letter case, e.g. DNS 0x20, is echoed), answers whose owner name is a
//! compression pointer to that question, and an OPT record when the query had one. That is far
//! cheaper than building and serialising a `Message`, and it is trivially bounded: nothing is
//! answered beyond the client's size limit (512 bytes, or its EDNS payload size up to
//! [`MAX_UDP_PAYLOAD`] over UDP), answers that do not fit set TC, and a malformed query gets a
//! bare 12-byte FORMERR header (never more than it sent) or no answer at all.
//!
//! What is answered locally, like Docker's embedded DNS:
//! - A/AAAA/ANY for names berth knows ([`Records::lookup`]): all addresses, shuffled (round
//!   robin), TTL 600. A known name without an address of the asked family → NOERROR, no records.
//!   Other types for a known name → NOERROR, no records.
//! - PTR for `in-addr.arpa`/`ip6.arpa` names of addresses berth knows ([`Records::reverse`]).
//! - Unknown single-label names (no dot) → NXDOMAIN, never forwarded.
//! - Everything else is forwarded to [`Records::upstreams`]; when there are none (`--internal`
//!   networks only), unknown names get NXDOMAIN and other queries REFUSED.

use crate::records::Records;
use hickory_proto::op::Message;
use rand::seq::SliceRandom;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TTL of locally answered records (Docker's).
pub const LOCAL_TTL: u32 = 600;
/// The largest UDP response we send, whatever the client's EDNS payload size says.
pub const MAX_UDP_PAYLOAD: usize = 4096;
/// The UDP limit for clients without EDNS (RFC 1035).
pub const MIN_UDP_PAYLOAD: usize = 512;
/// The largest DNS message over TCP (two-byte length prefix).
pub const MAX_TCP_MESSAGE: usize = 65535;

const HEADER_LEN: usize = 12;
const OPT_LEN: usize = 11;
/// Longest name in wire format (RFC 1035 2.3.4).
const MAX_NAME_WIRE: usize = 255;

// Header flag bits.
const QR: u16 = 0x8000;
const OPCODE_MASK: u16 = 0x7800;
const AA: u16 = 0x0400;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
const RA: u16 = 0x0080;
const CD: u16 = 0x0010;

/// Response codes used here.
pub mod rcode {
    pub const NOERROR: u8 = 0;
    pub const FORMERR: u8 = 1;
    pub const SERVFAIL: u8 = 2;
    pub const NXDOMAIN: u8 = 3;
    pub const NOTIMP: u8 = 4;
    pub const REFUSED: u8 = 5;
}
/// Extended RCODE 16 (RFC 6891): upper 8 bits go in the OPT TTL, lower 4 in the header.
const BADVERS_HIGH: u8 = 1;

const TYPE_A: u16 = 1;
const TYPE_PTR: u16 = 12;
const TYPE_AAAA: u16 = 28;
const TYPE_OPT: u16 = 41;
const TYPE_IXFR: u16 = 251;
const TYPE_AXFR: u16 = 252;
const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;
const CLASS_ANY: u16 = 255;

/// How the query arrived; decides the size limit of the reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// EDNS facts of a query that had an OPT record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Edns {
    pub dnssec_ok: bool,
}

/// What a reply to a validated query needs to know about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryInfo {
    /// End of the question section: it is `query[12..question_end]`, its name uncompressed.
    pub question_end: usize,
    pub qtype: u16,
    pub edns: Option<Edns>,
    /// Largest reply the client accepts on its transport.
    pub limit: usize,
}

impl QueryInfo {
    /// The question section of `query` (the query this info was made from).
    pub fn question<'q>(&self, query: &'q [u8]) -> &'q [u8] {
        &query[HEADER_LEN..self.question_end]
    }
}

/// A query to send upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forward {
    /// Where to send it, in the configured order (never empty).
    pub upstreams: Vec<SocketAddr>,
    pub info: QueryInfo,
}

/// What to do with a query.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// The reply is in `out`.
    Reply,
    /// Send nothing (not a query, or too short to carry an id).
    Drop,
    /// Ask upstream; answer with [`relay`] or, when that fails, [`error_reply`].
    Forward(Forward),
}

/// Answers one DNS message `query` from the container `asker`, writing any reply into `out`
/// (cleared first; reuse it across calls to avoid allocating).
pub fn handle(
    query: &[u8],
    asker: &str,
    records: &dyn Records,
    transport: Transport,
    out: &mut Vec<u8>,
) -> Decision {
    out.clear();
    if query.len() < HEADER_LEN {
        return Decision::Drop;
    }
    let flags = be16(query, 2);
    if flags & QR != 0 {
        // Never answer responses: that is how reflection loops start.
        return Decision::Drop;
    }
    if flags & OPCODE_MASK != 0 {
        header_reply(query, rcode::NOTIMP, out);
        return Decision::Reply;
    }
    // Exactly one question (checked before hickory sees the message: it would reserve room for
    // up to 65535 questions first).
    if be16(query, 4) != 1 {
        header_reply(query, rcode::FORMERR, out);
        return Decision::Reply;
    }
    let Some(name) = QName::read(query) else {
        // A compressed, overlong or cut-off question name.
        header_reply(query, rcode::FORMERR, out);
        return Decision::Reply;
    };
    let question_end = name.wire_end + 4;
    let Some(edns) = validate(query, question_end) else {
        header_reply(query, rcode::FORMERR, out);
        return Decision::Reply;
    };
    let qtype = be16(query, name.wire_end);
    let qclass = be16(query, name.wire_end + 2);
    let limit = match (transport, edns) {
        (Transport::Tcp, _) => MAX_TCP_MESSAGE,
        (Transport::Udp, None) => MIN_UDP_PAYLOAD,
        (Transport::Udp, Some(e)) => (e.payload as usize).clamp(MIN_UDP_PAYLOAD, MAX_UDP_PAYLOAD),
    };
    let info = QueryInfo {
        question_end,
        qtype,
        edns: edns.map(|e| Edns {
            dnssec_ok: e.dnssec_ok,
        }),
        limit,
    };
    if edns.is_some_and(|e| e.version > 0) {
        let mut w = Reply::start(query, &info, 0, false, out);
        w.ext_rcode = BADVERS_HIGH;
        w.finish();
        return Decision::Reply;
    }
    if qtype == TYPE_OPT {
        header_reply(query, rcode::FORMERR, out);
        return Decision::Reply;
    }
    if qclass != CLASS_IN && qclass != CLASS_ANY {
        error_reply(query, &info, rcode::REFUSED, out);
        return Decision::Reply;
    }
    if qtype == TYPE_AXFR || qtype == TYPE_IXFR {
        error_reply(query, &info, rcode::REFUSED, out);
        return Decision::Reply;
    }

    if let Some(text) = name.text() {
        if qtype == TYPE_PTR {
            if let Some(addr) = reverse_name(text) {
                if let Some(names) = records.reverse(asker, addr) {
                    answer_ptr(query, &info, &names, out);
                    return Decision::Reply;
                }
                return unknown(query, asker, records, &name, info, out);
            }
        }
        if let Some(mut addrs) = records.lookup(asker, text) {
            answer_addrs(query, &info, &mut addrs, out);
            return Decision::Reply;
        }
    }
    unknown(query, asker, records, &name, info, out)
}

/// The EDNS fields of a query (from its OPT record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OptInfo {
    payload: u16,
    version: u8,
    dnssec_ok: bool,
}

/// Validates the whole query (whose question, ending at `question_end`, was read already) and
/// returns its EDNS fields: `None` when malformed, `Some(None)` without EDNS.
///
/// The usual shape (one question, no other records but maybe one OPT whose options are
/// well-formed TLVs) is checked here exactly, to the last byte: that is most of the CPU a local
/// answer costs saved. Anything else goes through hickory-proto's full parser.
fn validate(query: &[u8], question_end: usize) -> Option<Option<OptInfo>> {
    if question_end > query.len() {
        return None;
    }
    if let Some(fast) = validate_simple(query, question_end) {
        return Some(fast);
    }
    let msg = Message::from_vec(query).ok()?;
    if msg.queries.len() != 1 {
        return None;
    }
    Some(msg.edns.map(|e| OptInfo {
        payload: e.max_payload(),
        version: e.version(),
        dnssec_ok: e.flags().dnssec_ok,
    }))
}

/// The exact-layout check of [`validate`]; `None` means "not the simple shape", not "bad".
fn validate_simple(query: &[u8], question_end: usize) -> Option<Option<OptInfo>> {
    let counts = (
        be16(query, 4),
        be16(query, 6),
        be16(query, 8),
        be16(query, 10),
    );
    match counts {
        (1, 0, 0, 0) => (question_end == query.len()).then_some(None),
        (1, 0, 0, 1) => {
            let opt = &query[question_end..];
            // Root owner, type OPT, payload size, extended rcode, version, flags, rdlength.
            if opt.len() < OPT_LEN || opt[0] != 0 || be16(opt, 1) != TYPE_OPT {
                return None;
            }
            let rdlen = be16(opt, 9) as usize;
            if OPT_LEN + rdlen != opt.len() {
                return None;
            }
            let mut options = &opt[OPT_LEN..];
            while !options.is_empty() {
                if options.len() < 4 {
                    return None;
                }
                let (code, len) = (be16(options, 0), be16(options, 2) as usize);
                // Client subnet has a syntax of its own: leave it to hickory.
                if code == 8 || options.len() < 4 + len {
                    return None;
                }
                options = &options[4 + len..];
            }
            Some(Some(OptInfo {
                // Below 512 counts as 512 (RFC 6891 6.2.5), as hickory reads it too.
                payload: be16(opt, 3).max(MIN_UDP_PAYLOAD as u16),
                version: opt[6],
                dnssec_ok: opt[7] & 0x80 != 0,
            }))
        }
        _ => None,
    }
}

/// A name berth does not know: NXDOMAIN for single labels, else forward if the asker may.
fn unknown(
    query: &[u8],
    asker: &str,
    records: &dyn Records,
    name: &QName,
    info: QueryInfo,
    out: &mut Vec<u8>,
) -> Decision {
    if name.labels == 1 {
        error_reply(query, &info, rcode::NXDOMAIN, out);
        return Decision::Reply;
    }
    let upstreams = records.upstreams(asker);
    if upstreams.is_empty() {
        let code = if matches!(info.qtype, TYPE_A | TYPE_AAAA | TYPE_ANY) && name.labels > 0 {
            rcode::NXDOMAIN
        } else {
            rcode::REFUSED
        };
        error_reply(query, &info, code, out);
        return Decision::Reply;
    }
    Decision::Forward(Forward { upstreams, info })
}

fn answer_addrs(query: &[u8], info: &QueryInfo, addrs: &mut [IpAddr], out: &mut Vec<u8>) {
    if addrs.len() > 1 {
        addrs.shuffle(&mut rand::rng());
    }
    let mut w = Reply::start(query, info, rcode::NOERROR, true, out);
    let (want4, want6) = match info.qtype {
        TYPE_A => (true, false),
        TYPE_AAAA => (false, true),
        TYPE_ANY => (true, true),
        _ => (false, false),
    };
    // ANY lists IPv4 first, then IPv6.
    if want4 {
        for a in addrs.iter() {
            if let IpAddr::V4(v4) = a {
                if !w.record(TYPE_A, &v4.octets()) {
                    break;
                }
            }
        }
    }
    if want6 && !w.truncated {
        for a in addrs.iter() {
            if let IpAddr::V6(v6) = a {
                if !w.record(TYPE_AAAA, &v6.octets()) {
                    break;
                }
            }
        }
    }
    w.finish();
}

fn answer_ptr(query: &[u8], info: &QueryInfo, names: &[String], out: &mut Vec<u8>) {
    let mut w = Reply::start(query, info, rcode::NOERROR, true, out);
    let mut wire = [0u8; MAX_NAME_WIRE];
    for n in names {
        let Some(len) = encode_name(n, &mut wire) else {
            continue;
        };
        if !w.record(TYPE_PTR, &wire[..len]) {
            break;
        }
    }
    w.finish();
}

/// A reply without answers: `rcode`, the question, and OPT if the query had one.
pub fn error_reply(query: &[u8], info: &QueryInfo, rcode: u8, out: &mut Vec<u8>) {
    out.clear();
    let authoritative = rcode == self::rcode::NXDOMAIN;
    Reply::start(query, info, rcode, authoritative, out).finish();
}

/// A bare 12-byte reply header (no question) for queries that cannot be parsed; never longer
/// than the query, which has at least 12 bytes.
fn header_reply(query: &[u8], rcode: u8, out: &mut Vec<u8>) {
    out.clear();
    let qflags = be16(query, 2);
    let flags = QR | (qflags & (OPCODE_MASK | RD)) | RA | u16::from(rcode & 0xF);
    out.extend_from_slice(&query[..2]);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0; 8]);
}

/// Writes a reply into `out`: header and question at start, answers with [`Reply::record`]
/// while they fit the client's limit, then [`Reply::finish`] adds OPT and the counts.
struct Reply<'a> {
    out: &'a mut Vec<u8>,
    /// Bytes reserved at the end for the OPT record.
    reserve: usize,
    limit: usize,
    answers: u16,
    truncated: bool,
    edns: Option<Edns>,
    ext_rcode: u8,
}

impl<'a> Reply<'a> {
    fn start(
        query: &[u8],
        info: &QueryInfo,
        rcode: u8,
        authoritative: bool,
        out: &'a mut Vec<u8>,
    ) -> Self {
        out.clear();
        let qflags = be16(query, 2);
        let mut flags = QR | (qflags & (OPCODE_MASK | RD | CD)) | RA | u16::from(rcode & 0xF);
        if authoritative {
            flags |= AA;
        }
        out.extend_from_slice(&query[..2]);
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(info.question(query));
        Reply {
            out,
            reserve: if info.edns.is_some() { OPT_LEN } else { 0 },
            limit: info.limit,
            answers: 0,
            truncated: false,
            edns: info.edns,
            ext_rcode: 0,
        }
    }

    /// Adds an answer owned by the question name; false (and TC) when it does not fit.
    fn record(&mut self, rtype: u16, rdata: &[u8]) -> bool {
        let len = 2 + 10 + rdata.len();
        if self.truncated || self.out.len() + len + self.reserve > self.limit {
            self.truncated = true;
            return false;
        }
        let o = &mut *self.out;
        o.extend_from_slice(&[0xC0, HEADER_LEN as u8]);
        o.extend_from_slice(&rtype.to_be_bytes());
        o.extend_from_slice(&CLASS_IN.to_be_bytes());
        o.extend_from_slice(&LOCAL_TTL.to_be_bytes());
        o.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        o.extend_from_slice(rdata);
        self.answers += 1;
        true
    }

    fn finish(self) {
        let o = self.out;
        o[6..8].copy_from_slice(&self.answers.to_be_bytes());
        if self.truncated {
            o[2] |= (TC >> 8) as u8;
        }
        if let Some(e) = self.edns {
            let flags: u16 = if e.dnssec_ok { 0x8000 } else { 0 };
            o.push(0); // root owner
            o.extend_from_slice(&TYPE_OPT.to_be_bytes());
            o.extend_from_slice(&(MAX_UDP_PAYLOAD as u16).to_be_bytes());
            o.push(self.ext_rcode);
            o.push(0); // version
            o.extend_from_slice(&flags.to_be_bytes());
            o.extend_from_slice(&[0, 0]); // no options
            o[10..12].copy_from_slice(&1u16.to_be_bytes());
        }
    }
}

/// The question name of a query, read straight from the wire.
struct QName {
    /// Offset just past the name's terminating zero.
    wire_end: usize,
    labels: usize,
    /// Lower-case dotted text, valid when `hostname` is true.
    text: [u8; MAX_NAME_WIRE],
    text_len: usize,
    /// All labels are made of letters, digits, '-' and '_' (so the dotted text is unambiguous).
    hostname: bool,
}

impl QName {
    /// Reads the question name at offset 12: uncompressed labels only (a question has nothing
    /// before it to point at), at most 255 bytes.
    fn read(msg: &[u8]) -> Option<QName> {
        let mut q = QName {
            wire_end: 0,
            labels: 0,
            text: [0; MAX_NAME_WIRE],
            text_len: 0,
            hostname: true,
        };
        let mut pos = HEADER_LEN;
        loop {
            let len = *msg.get(pos)? as usize;
            if len == 0 {
                q.wire_end = pos + 1;
                return Some(q);
            }
            if len > 63 || pos + 1 + len - HEADER_LEN >= MAX_NAME_WIRE {
                return None;
            }
            let label = msg.get(pos + 1..pos + 1 + len)?;
            if q.labels > 0 {
                q.text[q.text_len] = b'.';
                q.text_len += 1;
            }
            for &b in label {
                let c = b.to_ascii_lowercase();
                if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_') {
                    q.hostname = false;
                }
                q.text[q.text_len] = c;
                q.text_len += 1;
            }
            q.labels += 1;
            pos += 1 + len;
        }
    }

    fn text(&self) -> Option<&str> {
        if !self.hostname || self.labels == 0 {
            return None;
        }
        std::str::from_utf8(&self.text[..self.text_len]).ok()
    }
}

/// The address of a reverse-lookup name (`4.3.2.1.in-addr.arpa`, 32 nibbles `.ip6.arpa`).
fn reverse_name(name: &str) -> Option<IpAddr> {
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let mut octets = [0u8; 4];
        let mut n = 0;
        for label in rest.split('.') {
            if n == 4 || label.is_empty() || label.len() > 3 {
                return None;
            }
            if label.len() > 1 && label.starts_with('0') {
                return None;
            }
            octets[3 - n] = label.parse().ok()?;
            n += 1;
        }
        return (n == 4).then(|| IpAddr::V4(Ipv4Addr::from(octets)));
    }
    if let Some(rest) = name.strip_suffix(".ip6.arpa") {
        let mut value: u128 = 0;
        let mut n = 0;
        for label in rest.split('.') {
            let &[c] = label.as_bytes() else {
                return None;
            };
            let digit = (c as char).to_digit(16)?;
            if n == 32 {
                return None;
            }
            value |= u128::from(digit) << (4 * n);
            n += 1;
        }
        return (n == 32).then(|| IpAddr::V6(Ipv6Addr::from(value)));
    }
    None
}

/// Encodes a dotted name (optional trailing dot) into wire labels; `None` if it is not a valid
/// name (empty label, label over 63 bytes, over 255 bytes in all).
fn encode_name(name: &str, wire: &mut [u8; MAX_NAME_WIRE]) -> Option<usize> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return None;
    }
    let mut pos = 0;
    for label in name.split('.') {
        let l = label.len();
        if l == 0 || l > 63 || pos + 1 + l + 1 > MAX_NAME_WIRE {
            return None;
        }
        wire[pos] = l as u8;
        wire[pos + 1..pos + 1 + l].copy_from_slice(label.as_bytes());
        pos += 1 + l;
    }
    wire[pos] = 0;
    Some(pos + 1)
}

/// What the forwarder needs to know about an upstream's reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamReply {
    pub rcode: u8,
    pub truncated: bool,
    pub answers: u16,
    /// Smallest TTL of the answer and authority records (for caching), if any.
    pub min_ttl: Option<u32>,
    /// Offsets of every record's TTL field except OPT's (to age cached replies).
    pub ttl_offsets: Vec<u32>,
}

/// Checks that `resp` is a well-formed reply to a query whose question section was `question`
/// (the id is the caller's business). Walks every record with bounds checks; `None` if anything
/// is off.
pub fn check_upstream(resp: &[u8], question: &[u8]) -> Option<UpstreamReply> {
    if resp.len() < HEADER_LEN + question.len() || question.len() < 5 {
        return None;
    }
    let flags = be16(resp, 2);
    if flags & QR == 0 || flags & OPCODE_MASK != 0 || be16(resp, 4) != 1 {
        return None;
    }
    let (qname, qtail) = question.split_at(question.len() - 4);
    let got = &resp[HEADER_LEN..HEADER_LEN + question.len()];
    if !got[..qname.len()].eq_ignore_ascii_case(qname) || &got[qname.len()..] != qtail {
        return None;
    }
    let counts = [be16(resp, 6), be16(resp, 8), be16(resp, 10)];
    let mut pos = HEADER_LEN + question.len();
    let mut reply = UpstreamReply {
        rcode: (flags & 0xF) as u8,
        truncated: flags & TC != 0,
        answers: counts[0],
        min_ttl: None,
        ttl_offsets: Vec::new(),
    };
    for (section, &count) in counts.iter().enumerate() {
        for _ in 0..count {
            pos = skip_name(resp, pos)?;
            let fixed = resp.get(pos..pos + 10)?;
            let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
            let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
            let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
            if rtype != TYPE_OPT {
                reply.ttl_offsets.push((pos + 4) as u32);
                if section < 2 {
                    // RFC 2181 8: a TTL with the top bit set counts as zero.
                    let ttl = if ttl & 0x8000_0000 != 0 { 0 } else { ttl };
                    reply.min_ttl = Some(reply.min_ttl.map_or(ttl, |m| m.min(ttl)));
                }
            }
            pos += 10 + rdlen;
            if pos > resp.len() {
                return None;
            }
        }
    }
    (pos == resp.len()).then_some(reply)
}

/// Skips a (possibly compressed) name at `pos`; returns the offset after it.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    for _ in 0..128 {
        let len = *msg.get(pos)?;
        match len & 0xC0 {
            0 if len == 0 => return Some(pos + 1),
            0 => pos += 1 + len as usize,
            0xC0 => return msg.get(pos + 1).map(|_| pos + 2),
            _ => return None,
        }
    }
    None
}

/// Writes the reply to the client from an upstream answer `resp` that [`check_upstream`]
/// accepted for this query's question: the client's id and question bytes (letter case), or, if
/// it is too big for the client, an empty reply with TC set and the upstream's rcode. Returns
/// true when `resp` was copied whole.
pub fn relay(query: &[u8], info: &QueryInfo, resp: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    if resp.len() > info.limit || resp.len() < info.question_end {
        let rc = if resp.len() >= 4 { resp[3] & 0xF } else { 0 };
        let mut w = Reply::start(query, info, rc, false, out);
        w.truncated = true;
        w.finish();
        return false;
    }
    out.extend_from_slice(resp);
    out[..2].copy_from_slice(&query[..2]);
    out[HEADER_LEN..info.question_end].copy_from_slice(info.question(query));
    true
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[cfg(test)]
mod tests;
