//! eBPF instructions: the handful of encodings berth's programs use.
//!
//! Encoding (Documentation/bpf/standardization/instruction-set.rst): 8 bytes per instruction,
//! `opcode`, `dst_reg:4 | src_reg:4` (dst in the low nibble), `off: i16`, `imm: i32`; a 64-bit
//! immediate load takes two slots.

/// One instruction slot, laid out as the kernel reads it (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Instruction classes, sizes, modes, operations and sources (uapi/linux/bpf_common.h, bpf.h).
const LD: u8 = 0x00;
const LDX: u8 = 0x01;
const STX: u8 = 0x03;
const JMP: u8 = 0x05;
const ALU64: u8 = 0x07;
const W: u8 = 0x00;
const DW: u8 = 0x18;
const IMM: u8 = 0x00;
const MEM: u8 = 0x60;
const MOV: u8 = 0xb0;
const ADD: u8 = 0x00;
const K: u8 = 0x00;
const X: u8 = 0x08;
const JEQ: u8 = 0x10;
const JNE: u8 = 0x50;
const CALL: u8 = 0x80;
const EXIT: u8 = 0x90;
/// `src_reg` of a 64-bit immediate load whose value is a map's file descriptor.
const PSEUDO_MAP_FD: u8 = 1;

/// Registers: r0 return value, r1–r5 arguments (clobbered by calls), r6–r9 kept across calls,
/// r10 the read-only frame pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reg(pub u8);
pub const R0: Reg = Reg(0);
pub const R1: Reg = Reg(1);
pub const R2: Reg = Reg(2);
pub const R3: Reg = Reg(3);
pub const R4: Reg = Reg(4);
pub const R6: Reg = Reg(6);
pub const R10: Reg = Reg(10);

fn insn(code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src.0 << 4) | (dst.0 & 0x0f),
        off,
        imm,
    }
}

/// `dst = src` (64 bits).
pub fn mov(dst: Reg, src: Reg) -> Insn {
    insn(ALU64 | MOV | X, dst, src, 0, 0)
}

/// `dst = imm` (sign-extended to 64 bits).
pub fn mov_imm(dst: Reg, imm: i32) -> Insn {
    insn(ALU64 | MOV | K, dst, R0, 0, imm)
}

/// `dst += imm`.
pub fn add_imm(dst: Reg, imm: i32) -> Insn {
    insn(ALU64 | ADD | K, dst, R0, 0, imm)
}

/// `dst = *(u32 *)(src + off)`.
pub fn load32(dst: Reg, src: Reg, off: i16) -> Insn {
    insn(LDX | MEM | W, dst, src, off, 0)
}

/// `*(u32 *)(dst + off) = src`.
pub fn store32(dst: Reg, off: i16, src: Reg) -> Insn {
    insn(STX | MEM | W, dst, src, off, 0)
}

/// `*(u64 *)(dst + off) = src`.
pub fn store64(dst: Reg, off: i16, src: Reg) -> Insn {
    insn(STX | MEM | DW, dst, src, off, 0)
}

/// `dst = imm` (64 bits, two slots).
pub fn load_imm64(dst: Reg, imm: u64) -> [Insn; 2] {
    [
        insn(LD | DW | IMM, dst, R0, 0, imm as u32 as i32),
        insn(0, R0, R0, 0, (imm >> 32) as u32 as i32),
    ]
}

/// `dst = the map behind file descriptor fd` (two slots; the kernel puts the map's address).
pub fn load_map_fd(dst: Reg, fd: i32) -> [Insn; 2] {
    [
        insn(LD | DW | IMM, dst, Reg(PSEUDO_MAP_FD), 0, fd),
        insn(0, R0, R0, 0, 0),
    ]
}

/// `if dst != imm goto +off`.
pub fn jne_imm(dst: Reg, imm: i32, off: i16) -> Insn {
    insn(JMP | JNE | K, dst, R0, off, imm)
}

/// `if dst == imm goto +off`.
pub fn jeq_imm(dst: Reg, imm: i32, off: i16) -> Insn {
    insn(JMP | JEQ | K, dst, R0, off, imm)
}

/// `if dst != src goto +off`.
pub fn jne(dst: Reg, src: Reg, off: i16) -> Insn {
    insn(JMP | JNE | X, dst, src, off, 0)
}

/// Calls kernel helper number `helper` (arguments in r1–r5, result in r0).
pub fn call(helper: i32) -> Insn {
    insn(JMP | CALL, R0, R0, 0, helper)
}

/// Returns r0.
pub fn exit() -> Insn {
    insn(JMP | EXIT, R0, R0, 0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Opcodes as listed in the kernel's instruction-set document (e.g. 0xbf mov64 reg, 0x61 ldxw).
    #[test]
    fn encodes_like_the_kernel_expects() {
        assert_eq!(
            mov(R6, R1),
            Insn {
                code: 0xbf,
                regs: 0x16,
                off: 0,
                imm: 0
            }
        );
        assert_eq!(
            load32(R2, R6, 36),
            Insn {
                code: 0x61,
                regs: 0x62,
                off: 36,
                imm: 0
            }
        );
        assert_eq!(
            store32(R10, -8, R2),
            Insn {
                code: 0x63,
                regs: 0x2a,
                off: -8,
                imm: 0
            }
        );
        let s = store64(R10, -16, R0);
        assert_eq!((s.code, s.regs, s.off), (0x7b, 0x0a, -16));
        assert_eq!(
            jne_imm(R2, 6, 3),
            Insn {
                code: 0x55,
                regs: 0x02,
                off: 3,
                imm: 6
            }
        );
        assert_eq!(
            jeq_imm(R0, 0, 4),
            Insn {
                code: 0x15,
                regs: 0x00,
                off: 4,
                imm: 0
            }
        );
        assert_eq!(
            jne(R0, R1, 2),
            Insn {
                code: 0x5d,
                regs: 0x10,
                off: 2,
                imm: 0
            }
        );
        assert_eq!(
            call(1),
            Insn {
                code: 0x85,
                regs: 0,
                off: 0,
                imm: 1
            }
        );
        assert_eq!(
            exit(),
            Insn {
                code: 0x95,
                regs: 0,
                off: 0,
                imm: 0
            }
        );
        assert_eq!(
            mov_imm(R0, 1),
            Insn {
                code: 0xb7,
                regs: 0,
                off: 0,
                imm: 1
            }
        );
        assert_eq!(
            add_imm(R2, -8),
            Insn {
                code: 0x07,
                regs: 0x02,
                off: 0,
                imm: -8
            }
        );
        let [a, b] = load_imm64(R1, 0x1122_3344_5566_7788);
        assert_eq!((a.code, a.regs, a.imm as u32), (0x18, 0x01, 0x5566_7788));
        assert_eq!((b.code, b.imm as u32), (0, 0x1122_3344));
        let [m, _] = load_map_fd(R1, 7);
        assert_eq!((m.code, m.regs, m.imm), (0x18, 0x11, 7));
    }
}
