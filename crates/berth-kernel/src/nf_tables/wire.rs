//! nf_tables netlink encoding: batches of messages, attributes, set elements and the few
//! expressions berth programs directly (payload load/write, cmp, meta l4proto, immediate).
//!
//! Numbers and layouts are the kernel's uapi (`linux/netfilter/nf_tables.h`,
//! `linux/netfilter/nfnetlink.h`); nf_tables wants its integer attributes big-endian.

/// Netlink header flags.
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLA_F_NESTED: u16 = 0x8000;

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;

pub(crate) const NFPROTO_INET: u8 = 1;
pub(crate) const NFPROTO_IPV4: u8 = 2;
pub(crate) const NFPROTO_BRIDGE: u8 = 7;
pub(crate) const NF_INET_LOCAL_OUT: u32 = 3;

/// `enum nf_tables_msg_types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Msg {
    NewTable = 0,
    /// `NFT_MSG_NEWTABLE` with `NLM_F_EXCL`: fails with EEXIST if the table exists.
    NewTableExcl = 0x100,
    DelTable = 2,
    NewChain = 3,
    NewRule = 6,
    NewSetElem = 12,
    DelSetElem = 14,
}

/// Where a payload expression reads or writes (`enum nft_payload_bases`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Base {
    Network = 1,
    Transport = 2,
}

/// One expression of a rule; all use register 1 (`NFT_REG_1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    /// Load `len` bytes at `offset` of `base` into the register.
    Load { base: Base, offset: u32, len: u32 },
    /// Load the layer 4 protocol number (one byte) into the register.
    L4Proto,
    /// Stop evaluating the rule unless the register equals `data`.
    Eq(Vec<u8>),
    /// Put `data` into the register.
    Immediate(Vec<u8>),
    /// Write the register's first `len` bytes at `offset` of `base`, fixing the internet
    /// checksum found `csum_offset` bytes into the same header.
    Write {
        base: Base,
        offset: u32,
        len: u32,
        csum_offset: u32,
    },
}

const REG_1: u32 = 1;

/// A batch of nf_tables messages, applied by the kernel as one transaction.
pub(crate) struct Batch {
    buf: Vec<u8>,
    seq: u32,
    /// (sequence number, what the message does) for error messages.
    pub(crate) sent: Vec<(u32, String)>,
}

impl Batch {
    pub(crate) fn new(first_seq: u32) -> Self {
        let mut b = Batch {
            buf: Vec::with_capacity(1024),
            seq: first_seq,
            sent: Vec::new(),
        };
        b.raw(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, |_| {});
        b
    }

    /// Ends the batch: the bytes to send.
    pub(crate) fn finish(mut self) -> (Vec<u8>, Vec<(u32, String)>) {
        self.raw(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, |_| {});
        (self.buf, self.sent)
    }

    /// The sequence number of the last message added with [`Batch::add`].
    pub(crate) fn last_seq(&self) -> Option<u32> {
        self.sent.last().map(|(s, _)| *s)
    }

    /// Adds one nf_tables message of `family`, acknowledged by the kernel.
    pub(crate) fn add(
        &mut self,
        msg: Msg,
        family: u8,
        what: impl Into<String>,
        body: impl FnOnce(&mut Vec<u8>),
    ) {
        let ty = (NFNL_SUBSYS_NFTABLES << 8) | (msg as u16 & 0xff);
        let create = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK;
        let flags = match msg {
            Msg::NewTable | Msg::NewChain | Msg::NewRule | Msg::NewSetElem => create,
            Msg::NewTableExcl => create | NLM_F_EXCL,
            Msg::DelTable | Msg::DelSetElem => NLM_F_REQUEST | NLM_F_ACK,
        };
        let seq = self.seq;
        self.raw(ty, flags, family, body);
        self.sent.push((seq, what.into()));
    }

    fn raw(&mut self, ty: u16, flags: u16, family: u8, body: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]); // length, patched below
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&self.seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
                                                         // struct nfgenmsg: family, version (NFNETLINK_V0), resource id (big-endian).
        let res_id = if ty == NFNL_MSG_BATCH_BEGIN || ty == NFNL_MSG_BATCH_END {
            NFNL_SUBSYS_NFTABLES
        } else {
            0
        };
        self.buf.push(family);
        self.buf.push(0);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        body(&mut self.buf);
        let len = (self.buf.len() - start) as u32;
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
        self.seq = self.seq.wrapping_add(1);
    }
}

/// Appends attribute `ty` with `data`, padded to four bytes.
pub(crate) fn put(buf: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(data);
    pad(buf);
}

/// A NUL-terminated string attribute.
pub(crate) fn put_str(buf: &mut Vec<u8>, ty: u16, s: &str) {
    let mut data = Vec::with_capacity(s.len() + 1);
    data.extend_from_slice(s.as_bytes());
    data.push(0);
    put(buf, ty, &data);
}

/// A big-endian 32-bit attribute (nf_tables' integers).
pub(crate) fn put_be32(buf: &mut Vec<u8>, ty: u16, v: u32) {
    put(buf, ty, &v.to_be_bytes());
}

/// A nested attribute whose contents `f` appends.
pub(crate) fn nest(buf: &mut Vec<u8>, ty: u16, f: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    f(buf);
    pad(buf);
    let len = (buf.len() - start) as u16;
    buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    buf[start + 2..start + 4].copy_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
}

fn pad(buf: &mut Vec<u8>) {
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

// Attribute numbers (nf_tables.h).
pub(crate) const NFTA_TABLE_NAME: u16 = 1;
pub(crate) const NFTA_CHAIN_TABLE: u16 = 1;
pub(crate) const NFTA_CHAIN_NAME: u16 = 3;
pub(crate) const NFTA_CHAIN_HOOK: u16 = 4;
pub(crate) const NFTA_CHAIN_POLICY: u16 = 5;
pub(crate) const NFTA_CHAIN_TYPE: u16 = 7;
pub(crate) const NFTA_HOOK_HOOKNUM: u16 = 1;
pub(crate) const NFTA_HOOK_PRIORITY: u16 = 2;
pub(crate) const NFTA_RULE_TABLE: u16 = 1;
pub(crate) const NFTA_RULE_CHAIN: u16 = 2;
pub(crate) const NFTA_RULE_EXPRESSIONS: u16 = 4;
pub(crate) const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
pub(crate) const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_KEY_END: u16 = 10;
/// `NFT_SET_ELEM_INTERVAL_END`: the element ends the interval its predecessor began.
pub(crate) const ELEM_INTERVAL_END: u32 = 1;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;

/// One set element: its key, for a concatenation of ranges its closing key, and its flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Elem {
    pub key: Vec<u8>,
    pub key_end: Option<Vec<u8>>,
    pub flags: u32,
}

/// Appends `elems` as `NFTA_SET_ELEM_LIST_ELEMENTS`.
pub(crate) fn put_elems(buf: &mut Vec<u8>, elems: &[Elem]) {
    nest(buf, NFTA_SET_ELEM_LIST_ELEMENTS, |b| {
        for e in elems {
            nest(b, NFTA_LIST_ELEM, |b| {
                nest(b, NFTA_SET_ELEM_KEY, |b| put(b, NFTA_DATA_VALUE, &e.key));
                if let Some(end) = &e.key_end {
                    nest(b, NFTA_SET_ELEM_KEY_END, |b| put(b, NFTA_DATA_VALUE, end));
                }
                if e.flags != 0 {
                    put_be32(b, NFTA_SET_ELEM_FLAGS, e.flags);
                }
            });
        }
    });
}

/// Appends a rule's expressions as `NFTA_RULE_EXPRESSIONS`.
pub(crate) fn put_exprs(buf: &mut Vec<u8>, exprs: &[Expr]) {
    nest(buf, NFTA_RULE_EXPRESSIONS, |b| {
        for e in exprs {
            nest(b, NFTA_LIST_ELEM, |b| put_expr(b, e));
        }
    });
}

fn put_expr(b: &mut Vec<u8>, e: &Expr) {
    let name = match e {
        Expr::Load { .. } | Expr::Write { .. } => "payload",
        Expr::L4Proto => "meta",
        Expr::Eq(_) => "cmp",
        Expr::Immediate(_) => "immediate",
    };
    put_str(b, NFTA_EXPR_NAME, name);
    nest(b, NFTA_EXPR_DATA, |b| match e {
        // NFTA_PAYLOAD_DREG, _BASE, _OFFSET, _LEN
        Expr::Load { base, offset, len } => {
            put_be32(b, 1, REG_1);
            put_be32(b, 2, *base as u32);
            put_be32(b, 3, *offset);
            put_be32(b, 4, *len);
        }
        // NFTA_PAYLOAD_SREG, _BASE, _OFFSET, _LEN, _CSUM_TYPE (INET), _CSUM_OFFSET, _CSUM_FLAGS
        Expr::Write {
            base,
            offset,
            len,
            csum_offset,
        } => {
            put_be32(b, 5, REG_1);
            put_be32(b, 2, *base as u32);
            put_be32(b, 3, *offset);
            put_be32(b, 4, *len);
            put_be32(b, 6, 1);
            put_be32(b, 7, *csum_offset);
            put_be32(b, 8, 0);
        }
        // NFTA_META_DREG, NFTA_META_KEY = NFT_META_L4PROTO
        Expr::L4Proto => {
            put_be32(b, 1, REG_1);
            put_be32(b, 2, 16);
        }
        // NFTA_CMP_SREG, NFTA_CMP_OP = NFT_CMP_EQ, NFTA_CMP_DATA
        Expr::Eq(data) => {
            put_be32(b, 1, REG_1);
            put_be32(b, 2, 0);
            nest(b, 3, |b| put(b, NFTA_DATA_VALUE, data));
        }
        // NFTA_IMMEDIATE_DREG, NFTA_IMMEDIATE_DATA
        Expr::Immediate(data) => {
            put_be32(b, 1, REG_1);
            nest(b, 2, |b| put(b, NFTA_DATA_VALUE, data));
        }
    });
}

/// The outcome of one acknowledgement or error read back from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ack {
    pub seq: u32,
    /// 0 for success, else a negative errno.
    pub error: i32,
}

const NLMSG_ERROR: u16 = 2;

/// Parses the `NLMSG_ERROR` messages (acknowledgements and errors) in one datagram; anything
/// else, and anything truncated, is skipped. Never panics.
pub(crate) fn parse_acks(mut data: &[u8]) -> Vec<Ack> {
    let mut out = Vec::new();
    while data.len() >= 16 {
        let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if len < 16 || len > data.len() {
            break;
        }
        let ty = u16::from_ne_bytes([data[4], data[5]]);
        let seq = u32::from_ne_bytes([data[8], data[9], data[10], data[11]]);
        if ty == NLMSG_ERROR && len >= 20 {
            let error = i32::from_ne_bytes([data[16], data[17], data[18], data[19]]);
            out.push(Ack { seq, error });
        }
        let aligned = len.div_ceil(4) * 4;
        data = &data[aligned.min(data.len())..];
    }
    out
}
