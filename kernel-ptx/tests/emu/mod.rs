//! A small SIMT emulator for the PTX subset kernel-ptx renders, so kernels are checked against
//! the quant-formats CPU references without a GPU. Threads run one at a time up to the next
//! collective (`shfl.sync`, `mma.sync`, `bar.sync`), which executes once every live lane (warp)
//! or thread (block) has reached it; a collective that can never complete (exited lanes,
//! divergence) panics, and so does any access outside an allocation or a `.shared` array or
//! not naturally aligned.
//! Approximate instructions (`ex2.approx`, `sin.approx`, …) are computed exactly here.

#![allow(dead_code)]

pub mod gemv;
pub mod inputs;

use half::{bf16, f16};
use std::collections::HashMap;

/// A kernel argument.
#[derive(Clone, Copy, Debug)]
pub enum Arg {
    Ptr(u64),
    U32(u32),
    F32(f32),
}

/// Device memory: allocation `i` lives at `(i + 1) << 32`.
#[derive(Default)]
pub struct Gpu {
    buffers: Vec<Vec<u8>>,
    /// Bytes moved by `cp.async.bulk` copies so far.
    pub bulk_copied: u64,
}

impl Gpu {
    pub fn alloc(&mut self, bytes: &[u8]) -> u64 {
        self.buffers.push(bytes.to_vec());
        (self.buffers.len() as u64) << 32
    }

    pub fn alloc_f32(&mut self, values: &[f32]) -> u64 {
        self.alloc(
            &values
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        )
    }

    pub fn alloc_u32(&mut self, values: &[u32]) -> u64 {
        self.alloc(
            &values
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        )
    }

    pub fn bytes(&self, ptr: u64) -> &[u8] {
        &self.buffers[(ptr >> 32) as usize - 1]
    }

    pub fn f32s(&self, ptr: u64) -> Vec<f32> {
        self.bytes(ptr)
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    pub fn u32s(&self, ptr: u64) -> Vec<u32> {
        self.bytes(ptr)
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn slice(&mut self, addr: u64, len: usize) -> &mut [u8] {
        let index = (addr >> 32) as usize;
        let offset = (addr & 0xffff_ffff) as usize;
        let buf = index
            .checked_sub(1)
            .and_then(|i| self.buffers.get_mut(i))
            .unwrap_or_else(|| panic!("global access to unallocated address {addr:#x}"));
        let size = buf.len();
        buf.get_mut(offset..offset + len).unwrap_or_else(|| {
            panic!("global access [{offset}, +{len}) outside allocation of {size} bytes")
        })
    }

    /// Runs the single entry of `ptx` over `grid × block` with `args` and
    /// `dynamic_shared_bytes` of dynamic shared memory (the size of its `.extern .shared`
    /// array, if any).
    pub fn launch(
        &mut self,
        ptx: &str,
        grid: [u32; 3],
        block: [u32; 3],
        dynamic_shared_bytes: u32,
        args: &[Arg],
    ) {
        let program = Program::parse(ptx, dynamic_shared_bytes);
        assert_eq!(program.params.len(), args.len(), "argument count");
        let params: HashMap<String, u64> = program
            .params
            .iter()
            .zip(args)
            .map(|(name, a)| {
                let bits = match *a {
                    Arg::Ptr(p) => p,
                    Arg::U32(v) => u64::from(v),
                    Arg::F32(v) => u64::from(v.to_bits()),
                };
                (name.clone(), bits)
            })
            .collect();
        assert_eq!(block[1] * block[2], 1, "1-D blocks only");
        for cz in 0..grid[2] {
            for cy in 0..grid[1] {
                for cx in 0..grid[0] {
                    run_block(self, &program, &params, [cx, cy, cz], grid, block[0]);
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Opnd {
    Reg(usize),
    Imm(i64),
    F32(u32),
    Special(String),
    Sym(String),
    Vec(Vec<usize>),
    Mem(Box<Opnd>, i64),
}

#[derive(Clone, Debug)]
struct Inst {
    guard: Option<(usize, bool)>,
    parts: Vec<String>,
    ops: Vec<Opnd>,
}

struct Program {
    insts: Vec<Inst>,
    labels: HashMap<String, usize>,
    params: Vec<String>,
    shared: HashMap<String, u32>,
    shared_bytes: u32,
    regs: usize,
}

impl Program {
    fn parse(ptx: &str, dynamic_shared_bytes: u32) -> Program {
        let mut p = Program {
            insts: Vec::new(),
            labels: HashMap::new(),
            params: Vec::new(),
            shared: HashMap::new(),
            shared_bytes: 0,
            regs: 0,
        };
        let mut reg_ids: HashMap<String, usize> = HashMap::new();
        let mut in_body = false;
        for raw in ptx.lines() {
            let line = raw.trim();
            if let Some(rest) = line.strip_prefix(".param .") {
                let name = rest
                    .split_whitespace()
                    .nth(1)
                    .unwrap()
                    .trim_end_matches(',');
                p.params.push(name.to_string());
                continue;
            }
            if line == "{" {
                in_body = true;
                continue;
            }
            let extern_shared = line.starts_with(".extern .shared");
            if !extern_shared
                && (!in_body || line.is_empty() || line == "}" || line.starts_with(".reg"))
            {
                continue;
            }
            if line.starts_with(".shared") || extern_shared {
                let words: Vec<&str> = line.trim_end_matches(';').split_whitespace().collect();
                let align: u32 = words[words.iter().position(|w| *w == ".align").unwrap() + 1]
                    .parse()
                    .unwrap();
                let decl = words.last().unwrap();
                let (name, size) = decl.split_once('[').unwrap();
                // `name[]`: the dynamic array, as large as the launch says.
                let size: u32 = size
                    .trim_end_matches(']')
                    .parse()
                    .unwrap_or(dynamic_shared_bytes);
                p.shared_bytes = p.shared_bytes.next_multiple_of(align);
                p.shared.insert(name.to_string(), p.shared_bytes);
                p.shared_bytes += size;
                continue;
            }
            if let Some(label) = line.strip_suffix(':') {
                p.labels.insert(label.to_string(), p.insts.len());
                continue;
            }
            let line = line.trim_end_matches(';');
            let mut reg = |name: &str| -> usize {
                let next = reg_ids.len();
                *reg_ids.entry(name.to_string()).or_insert(next)
            };
            let (guard, rest) = match line.strip_prefix('@') {
                Some(g) => {
                    let (pred, rest) = g.split_once(' ').unwrap();
                    let (neg, pred) = match pred.strip_prefix('!') {
                        Some(pr) => (true, pr),
                        None => (false, pred),
                    };
                    (Some((reg(pred), neg)), rest)
                }
                None => (None, line),
            };
            let (op, args) = rest.split_once(' ').unwrap_or((rest, ""));
            let parts: Vec<String> = op.split('.').map(str::to_string).collect();
            let ops = split_top(args)
                .into_iter()
                .map(|a| parse_operand(&a, &mut reg))
                .collect();
            p.insts.push(Inst { guard, parts, ops });
        }
        p.regs = reg_ids.len();
        p
    }
}

fn split_top(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in args.chars() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            out.push(cur.trim().to_string());
            cur.clear();
        } else {
            cur.push(c);
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

fn parse_operand(a: &str, reg: &mut impl FnMut(&str) -> usize) -> Opnd {
    if let Some(inner) = a.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let (base, off) = match inner.split_once('+') {
            Some((b, o)) => (b, o.parse().unwrap()),
            None => (inner, 0),
        };
        return Opnd::Mem(Box::new(parse_operand(base, reg)), off);
    }
    if let Some(inner) = a.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        return Opnd::Vec(inner.split(',').map(|r| reg(r.trim())).collect());
    }
    if let Some(hex) = a.strip_prefix("0f") {
        return Opnd::F32(u32::from_str_radix(hex, 16).unwrap());
    }
    if let Some(hex) = a.strip_prefix("0x") {
        return Opnd::Imm(i64::from_str_radix(hex, 16).unwrap());
    }
    if let Ok(v) = a.parse::<i64>() {
        return Opnd::Imm(v);
    }
    if a.starts_with("%tid")
        || a.starts_with("%ctaid")
        || a.starts_with("%ntid")
        || a.starts_with("%nctaid")
        || a == "%laneid"
        || a == "%warpid"
    {
        return Opnd::Special(a.to_string());
    }
    if a.starts_with('%') {
        return Opnd::Reg(reg(a));
    }
    Opnd::Sym(a.to_string())
}

struct Thread {
    regs: Vec<u64>,
    pc: usize,
    done: bool,
    tid: u32,
}

#[derive(PartialEq)]
enum Stop {
    Exit,
    Collective,
}

struct Ctx<'a> {
    program: &'a Program,
    params: &'a HashMap<String, u64>,
    ctaid: [u32; 3],
    grid: [u32; 3],
    ntid: u32,
}

fn run_block(
    gpu: &mut Gpu,
    program: &Program,
    params: &HashMap<String, u64>,
    ctaid: [u32; 3],
    grid: [u32; 3],
    ntid: u32,
) {
    let ctx = Ctx {
        program,
        params,
        ctaid,
        grid,
        ntid,
    };
    let mut shared = vec![0u8; program.shared_bytes as usize];
    let mut threads: Vec<Thread> = (0..ntid)
        .map(|tid| Thread {
            regs: vec![0; program.regs],
            pc: 0,
            done: false,
            tid,
        })
        .collect();
    loop {
        for t in threads.iter_mut().filter(|t| !t.done) {
            if run_until_collective(gpu, &mut shared, &ctx, t) == Stop::Exit {
                t.done = true;
            }
        }
        let live: Vec<usize> = (0..threads.len()).filter(|&i| !threads[i].done).collect();
        if live.is_empty() {
            return;
        }
        // bar.sync: every live thread of the block waits at a block-wide bar.
        let at_block_bar = |i: usize| {
            let parts = &program.insts[threads[i].pc].parts;
            parts[0] == "bar" && parts[1] != "warp"
        };
        if live.iter().all(|&i| at_block_bar(i)) {
            for &i in &live {
                threads[i].pc += 1;
            }
            continue;
        }
        let mut progressed = false;
        for warp in 0..ntid.div_ceil(32) as usize {
            let lanes: Vec<usize> = (warp * 32..((warp + 1) * 32).min(threads.len())).collect();
            let live_lanes: Vec<usize> = lanes
                .iter()
                .copied()
                .filter(|&i| !threads[i].done)
                .collect();
            if live_lanes.is_empty() {
                continue;
            }
            let pc = threads[live_lanes[0]].pc;
            let inst = &program.insts[pc];
            let op = match inst.parts[..2] {
                [ref bar, ref warp] if bar == "bar" && warp == "warp" => "bar.warp",
                _ => inst.parts[0].as_str(),
            };
            if op != "shfl" && op != "mma" && op != "bar.warp" {
                continue;
            }
            assert!(
                live_lanes.len() == lanes.len() && live_lanes.iter().all(|&i| threads[i].pc == pc),
                "{op}.sync at instruction {pc} with exited or diverged lanes in warp {warp}"
            );
            match op {
                "shfl" => shfl(&mut threads, &lanes, inst),
                "mma" => mma(&mut threads, &lanes, inst),
                _ => lanes.iter().for_each(|&i| threads[i].pc += 1),
            }
            progressed = true;
        }
        assert!(
            progressed,
            "deadlock: threads wait at different collectives"
        );
    }
}

fn shfl(threads: &mut [Thread], lanes: &[usize], inst: &Inst) {
    let mode = inst.parts[2].as_str();
    let (d, a) = (reg_of(&inst.ops[0]), reg_of(&inst.ops[1]));
    let values: Vec<u64> = lanes
        .iter()
        .map(|&i| threads[i].regs[a] & 0xffff_ffff)
        .collect();
    let srcs: Vec<u32> = lanes
        .iter()
        .map(|&i| read_u(&threads[i], &inst.ops[2]) as u32)
        .collect();
    for (lane, &i) in lanes.iter().enumerate() {
        let b = srcs[lane] as i64;
        let l = lane as i64;
        let j = match mode {
            "bfly" => l ^ b,
            "down" => {
                if l + b > 31 {
                    l
                } else {
                    l + b
                }
            }
            "up" => {
                if l - b < 0 {
                    l
                } else {
                    l - b
                }
            }
            "idx" => b & 31,
            other => panic!("shfl mode {other}"),
        };
        threads[i].regs[d] = values[j as usize];
        threads[i].pc += 1;
    }
}

fn regs_of(o: &Opnd) -> &[usize] {
    match o {
        Opnd::Vec(regs) => regs,
        other => panic!("expected a register vector, got {other:?}"),
    }
}

/// `mma.sync.aligned.m16n8k32.row.col.s32.{s8,u8}.{s8,u8}.s32 d, a, b, c` with the PTX ISA
/// fragment layouts: lane `4g + t` holds A rows `g` (a0, a2) and `g + 8` (a1, a3) at k
/// `4t .. 4t + 4` (a0, a1) and `16 + 4t ..` (a2, a3); B column `g` at k `4t ..` (b0) and
/// `16 + 4t ..` (b1); C/D rows `g` (c0, c1) and `g + 8` (c2, c3), columns `2t`, `2t + 1`.
fn mma(threads: &mut [Thread], lanes: &[usize], inst: &Inst) {
    let shape: Vec<&str> = inst.parts.iter().map(String::as_str).collect();
    assert_eq!(
        &shape[..7],
        ["mma", "sync", "aligned", "m16n8k32", "row", "col", "s32"],
        "unsupported mma {shape:?}"
    );
    let element = |ty: &str, byte: u8| -> i64 {
        match ty {
            "s8" => i64::from(byte as i8),
            "u8" => i64::from(byte),
            other => panic!("mma element type {other}"),
        }
    };
    let (d, a, b, c) = (
        regs_of(&inst.ops[0]),
        regs_of(&inst.ops[1]),
        regs_of(&inst.ops[2]),
        regs_of(&inst.ops[3]),
    );
    let mut ma = [[0i64; 32]; 16];
    let mut mb = [[0i64; 8]; 32];
    let mut mc = [[0i64; 8]; 16];
    for (lane, &i) in lanes.iter().enumerate() {
        let (g, t) = (lane / 4, lane % 4);
        let regs = &threads[i].regs;
        for (r, &reg) in a.iter().enumerate() {
            let (row, k0) = (g + 8 * (r % 2), 4 * t + 16 * (r / 2));
            for (j, byte) in (regs[reg] as u32).to_le_bytes().into_iter().enumerate() {
                ma[row][k0 + j] = element(shape[7], byte);
            }
        }
        for (r, &reg) in b.iter().enumerate() {
            for (j, byte) in (regs[reg] as u32).to_le_bytes().into_iter().enumerate() {
                mb[4 * t + 16 * r + j][g] = element(shape[8], byte);
            }
        }
        for (r, &reg) in c.iter().enumerate() {
            mc[g + 8 * (r / 2)][2 * t + r % 2] = i64::from(regs[reg] as u32 as i32);
        }
    }
    for (lane, &i) in lanes.iter().enumerate() {
        let (g, t) = (lane / 4, lane % 4);
        for (r, &reg) in d.iter().enumerate() {
            let (row, col) = (g + 8 * (r / 2), 2 * t + r % 2);
            let sum: i64 = mc[row][col] + (0..32).map(|k| ma[row][k] * mb[k][col]).sum::<i64>();
            threads[i].regs[reg] = u64::from(sum as i32 as u32);
        }
        threads[i].pc += 1;
    }
}

fn reg_of(o: &Opnd) -> usize {
    match o {
        Opnd::Reg(r) => *r,
        other => panic!("expected a register, got {other:?}"),
    }
}

fn read_u(t: &Thread, o: &Opnd) -> u64 {
    match o {
        Opnd::Reg(r) => t.regs[*r],
        Opnd::Imm(v) => *v as u64,
        Opnd::F32(bits) => u64::from(*bits),
        other => panic!("cannot read {other:?}"),
    }
}

fn width(ty: &str) -> u32 {
    match ty {
        "pred" => 1,
        "b8" | "u8" | "s8" => 8,
        "b16" | "u16" | "s16" | "f16" | "bf16" => 16,
        "b32" | "u32" | "s32" | "f32" | "f16x2" | "bf16x2" => 32,
        "b64" | "u64" | "s64" | "f64" => 64,
        other => panic!("type {other}"),
    }
}

fn mask(bits: u64, ty: &str) -> u64 {
    let w = width(ty);
    if w >= 64 {
        bits
    } else {
        bits & ((1u64 << w) - 1)
    }
}

fn sext(bits: u64, ty: &str) -> i64 {
    let w = width(ty);
    ((bits << (64 - w)) as i64) >> (64 - w)
}

fn f(bits: u64) -> f32 {
    f32::from_bits(bits as u32)
}

fn fb(v: f32) -> u64 {
    u64::from(v.to_bits())
}

fn run_until_collective(gpu: &mut Gpu, shared: &mut [u8], ctx: &Ctx, t: &mut Thread) -> Stop {
    loop {
        let inst = &ctx.program.insts[t.pc];
        if let Some((p, neg)) = inst.guard
            && (t.regs[p] != 0) == neg
        {
            t.pc += 1;
            continue;
        }
        let op = inst.parts[0].as_str();
        match op {
            "shfl" | "bar" | "mma" => return Stop::Collective,
            "ret" => return Stop::Exit,
            "bra" => {
                let Opnd::Sym(label) = &inst.ops[0] else {
                    panic!("bra target")
                };
                t.pc = ctx.program.labels[label];
                continue;
            }
            _ => exec(gpu, shared, ctx, t, inst),
        }
        t.pc += 1;
    }
}

fn addr_of(ctx: &Ctx, t: &Thread, o: &Opnd) -> (bool, u64) {
    let Opnd::Mem(base, off) = o else {
        panic!("expected memory operand, got {o:?}")
    };
    match base.as_ref() {
        Opnd::Reg(r) => (false, t.regs[*r].wrapping_add(*off as u64)),
        Opnd::Sym(s) => match ctx.params.get(s) {
            Some(v) => (true, *v),
            None => (false, u64::from(ctx.program.shared[s]) + *off as u64),
        },
        other => panic!("address base {other:?}"),
    }
}

/// An `mbarrier` as this emulator keeps it in its 8 shared bytes: the current phase, the
/// arrivals per phase, the arrivals still due and the announced bytes still to land.
#[derive(Clone, Copy, Debug)]
struct Mbarrier {
    phase: u8,
    expected: u8,
    pending: u16,
    tx: i64,
}

impl Mbarrier {
    /// Completes the phase when every arrival and byte is in.
    fn completed(self) -> Mbarrier {
        assert!(
            self.tx >= 0,
            "mbarrier: more bytes landed than were announced"
        );
        if self.pending == 0 && self.tx == 0 {
            Mbarrier {
                phase: self.phase.wrapping_add(1),
                pending: u16::from(self.expected),
                ..self
            }
        } else {
            self
        }
    }
}

fn mbarrier_load(shared: &mut [u8], addr: u64) -> Mbarrier {
    check_aligned("mbarrier", addr, 8);
    let v = load(&mut Gpu::default(), shared, "shared", addr, 8);
    Mbarrier {
        phase: v as u8,
        expected: (v >> 8) as u8,
        pending: (v >> 16) as u16,
        tx: i64::from((v >> 32) as u32 as i32),
    }
}

fn mbarrier_store(shared: &mut [u8], addr: u64, m: Mbarrier) {
    let v = u64::from(m.phase)
        | u64::from(m.expected) << 8
        | u64::from(m.pending) << 16
        | u64::from(m.tx as i32 as u32) << 32;
    store(&mut Gpu::default(), shared, "shared", addr, 8, v);
}

fn mbarrier_complete_tx(shared: &mut [u8], addr: u64, bytes: i64) {
    let mut state = mbarrier_load(shared, addr);
    state.tx -= bytes;
    mbarrier_store(shared, addr, state.completed());
}

/// Accesses (vectors as a whole) must be naturally aligned, as on the device.
fn check_aligned(op: &str, addr: u64, bytes: usize) {
    assert!(
        addr.is_multiple_of(bytes as u64),
        "{op} of {bytes} bytes at misaligned address {addr:#x}"
    );
}

fn load(gpu: &mut Gpu, shared: &mut [u8], space: &str, addr: u64, bytes: usize) -> u64 {
    let mut buf = [0u8; 8];
    match space {
        "global" => buf[..bytes].copy_from_slice(gpu.slice(addr, bytes)),
        "shared" => {
            let a = addr as usize;
            let len = shared.len();
            buf[..bytes].copy_from_slice(
                shared
                    .get(a..a + bytes)
                    .unwrap_or_else(|| panic!("shared load at {a} outside {len} bytes")),
            );
        }
        other => panic!("space {other}"),
    }
    u64::from_le_bytes(buf)
}

fn store(gpu: &mut Gpu, shared: &mut [u8], space: &str, addr: u64, bytes: usize, value: u64) {
    let src = value.to_le_bytes();
    match space {
        "global" => gpu.slice(addr, bytes).copy_from_slice(&src[..bytes]),
        "shared" => {
            let a = addr as usize;
            let len = shared.len();
            shared
                .get_mut(a..a + bytes)
                .unwrap_or_else(|| panic!("shared store at {a} outside {len} bytes"))
                .copy_from_slice(&src[..bytes]);
        }
        other => panic!("space {other}"),
    }
}

fn exec(gpu: &mut Gpu, shared: &mut [u8], ctx: &Ctx, t: &mut Thread, inst: &Inst) {
    let parts: Vec<&str> = inst.parts.iter().map(String::as_str).collect();
    let op = parts[0];
    let ty = *parts.last().unwrap();
    let o = &inst.ops;
    let rd = |t: &Thread, i: usize| -> u64 {
        match &o[i] {
            Opnd::Special(s) => u64::from(match s.as_str() {
                "%tid.x" => t.tid,
                "%ntid.x" => ctx.ntid,
                "%ctaid.x" => ctx.ctaid[0],
                "%ctaid.y" => ctx.ctaid[1],
                "%ctaid.z" => ctx.ctaid[2],
                "%nctaid.x" => ctx.grid[0],
                "%nctaid.y" => ctx.grid[1],
                "%laneid" => t.tid % 32,
                "%warpid" => t.tid / 32,
                other => panic!("special {other}"),
            }),
            Opnd::Sym(s) => u64::from(ctx.program.shared[s]),
            other => read_u(t, other),
        }
    };
    let signed = ty.starts_with('s');
    let float = ty == "f32";
    match op {
        "ld" => {
            let space = parts[1];
            let (is_param, addr) = addr_of(ctx, t, o.last().unwrap());
            let bytes = (width(ty) / 8) as usize;
            let extend = |v: u64| {
                if signed {
                    sext(v, ty) as u64 & 0xffff_ffff
                } else {
                    v
                }
            };
            match &o[0] {
                Opnd::Vec(regs) => {
                    check_aligned("ld", addr, bytes * regs.len());
                    for (k, &r) in regs.iter().enumerate() {
                        t.regs[r] =
                            extend(load(gpu, shared, space, addr + (k * bytes) as u64, bytes));
                    }
                }
                dst => {
                    let v = if is_param {
                        addr
                    } else {
                        check_aligned("ld", addr, bytes);
                        load(gpu, shared, space, addr, bytes)
                    };
                    t.regs[reg_of(dst)] = extend(mask(v, ty));
                }
            }
        }
        "st" => {
            let space = parts[1];
            let (_, addr) = addr_of(ctx, t, &o[0]);
            let bytes = (width(ty) / 8) as usize;
            match &o[1] {
                Opnd::Vec(regs) => {
                    check_aligned("st", addr, bytes * regs.len());
                    for (k, &r) in regs.iter().enumerate() {
                        store(
                            gpu,
                            shared,
                            space,
                            addr + (k * bytes) as u64,
                            bytes,
                            t.regs[r],
                        );
                    }
                }
                _ => {
                    let v = rd(t, 1);
                    check_aligned("st", addr, bytes);
                    store(gpu, shared, space, addr, bytes, v);
                }
            }
        }
        "mov" => match (&o[0], &o[1]) {
            (Opnd::Vec(dst), src) => {
                let v = read_u(t, src);
                let w = width(ty) / dst.len() as u32;
                for (k, &r) in dst.iter().enumerate() {
                    t.regs[r] = (v >> (w * k as u32)) & ((1u64 << w) - 1);
                }
            }
            (dst, Opnd::Vec(src)) => {
                let w = width(ty) / src.len() as u32;
                let v = src.iter().enumerate().fold(0u64, |acc, (k, &r)| {
                    acc | ((t.regs[r] & ((1u64 << w) - 1)) << (w * k as u32))
                });
                t.regs[reg_of(dst)] = v;
            }
            (dst, _) => {
                let v = rd(t, 1);
                t.regs[reg_of(dst)] = mask(v, ty);
            }
        },
        "griddepcontrol" => {}
        // cp.async copies complete at once here (commit/wait are no-ops); L2 prefetches are
        // hints.
        "cp" => match parts[2] {
            "cg" | "ca" => {
                let (_, dst) = addr_of(ctx, t, &o[0]);
                let (_, src) = addr_of(ctx, t, &o[1]);
                let bytes = rd(t, 2) as usize;
                check_aligned("cp.async", src, bytes);
                check_aligned("cp.async", dst, bytes);
                for chunk in (0..bytes).step_by(8) {
                    let v = load(gpu, shared, parts[4], src + chunk as u64, 8);
                    store(gpu, shared, parts[3], dst + chunk as u64, 8, v);
                }
            }
            "bulk" if parts[3] == "prefetch" => {}
            // A bulk copy lands at once and counts its bytes against its barrier.
            "bulk" => {
                assert_eq!(
                    parts[3..],
                    ["shared::cluster", "global", "mbarrier::complete_tx::bytes"],
                    "cp.async.bulk form"
                );
                let (_, dst) = addr_of(ctx, t, &o[0]);
                let (_, src) = addr_of(ctx, t, &o[1]);
                let bytes = rd(t, 2) as usize;
                let (_, barrier) = addr_of(ctx, t, &o[3]);
                assert!(
                    bytes.is_multiple_of(16) && src % 16 == 0 && dst % 16 == 0,
                    "cp.async.bulk of {bytes} bytes from {src:#x} to {dst:#x}: needs multiples of 16"
                );
                for chunk in (0..bytes).step_by(8) {
                    let v = load(gpu, shared, "global", src + chunk as u64, 8);
                    store(gpu, shared, "shared", dst + chunk as u64, 8, v);
                }
                gpu.bulk_copied += bytes as u64;
                mbarrier_complete_tx(shared, barrier, bytes as i64);
            }
            "commit_group" | "wait_group" => {}
            other => panic!("cp.async.{other}"),
        },
        "fence" => {}
        "mbarrier" => {
            // `init [bar], count`; `arrive.expect_tx state, [bar], bytes`; `try_wait.parity p,
            // [bar], parity`.
            let (_, barrier) = addr_of(ctx, t, &o[if parts[1] == "init" { 0 } else { 1 }]);
            match parts[1] {
                "init" => {
                    let count = rd(t, 1);
                    assert!((1..256).contains(&count), "mbarrier.init count {count}");
                    mbarrier_store(
                        shared,
                        barrier,
                        Mbarrier {
                            phase: 0,
                            expected: count as u8,
                            pending: count as u16,
                            tx: 0,
                        },
                    );
                }
                "arrive" => {
                    assert_eq!(parts[2], "expect_tx", "mbarrier.arrive form");
                    let mut state = mbarrier_load(shared, barrier);
                    assert!(
                        state.pending > 0,
                        "mbarrier arrival past the expected count"
                    );
                    state.tx += rd(t, 2) as i64;
                    state.pending -= 1;
                    mbarrier_store(shared, barrier, state.completed());
                }
                "try_wait" => {
                    assert_eq!(parts[2], "parity", "mbarrier.try_wait form");
                    let state = mbarrier_load(shared, barrier);
                    let parity = rd(t, 2) & 1;
                    // Copies land at once here, so a phase that has not completed when a
                    // thread waits on it never would.
                    assert!(
                        u64::from(state.phase & 1) != parity,
                        "mbarrier at {barrier:#x}: waiting on phase parity {parity} that cannot \
                         complete (phase {}, {} arrivals and {} bytes pending)",
                        state.phase,
                        state.pending,
                        state.tx
                    );
                    t.regs[reg_of(&o[0])] = 1;
                }
                other => panic!("mbarrier.{other}"),
            }
        }
        "cvta" => {
            let v = rd(t, 1);
            t.regs[reg_of(&o[0])] = v;
        }
        "setp" => {
            let cmp = parts[1];
            let (a, b) = (rd(t, 1), rd(t, 2));
            let r = if float {
                let (a, b) = (f(a), f(b));
                match cmp {
                    "eq" => a == b,
                    "ne" => a != b,
                    "lt" => a < b,
                    "le" => a <= b,
                    "gt" => a > b,
                    "ge" => a >= b,
                    "nan" => a.is_nan() || b.is_nan(),
                    "num" => !a.is_nan() && !b.is_nan(),
                    c => panic!("setp {c}"),
                }
            } else {
                let ord = if signed {
                    sext(a, ty).cmp(&sext(b, ty))
                } else {
                    mask(a, ty).cmp(&mask(b, ty))
                };
                match cmp {
                    "eq" => ord.is_eq(),
                    "ne" => ord.is_ne(),
                    "lt" => ord.is_lt(),
                    "le" => ord.is_le(),
                    "gt" => ord.is_gt(),
                    "ge" => ord.is_ge(),
                    c => panic!("setp {c}"),
                }
            };
            t.regs[reg_of(&o[0])] = u64::from(r);
        }
        "selp" => {
            let p = t.regs[reg_of(&o[3])] != 0;
            let v = if p { rd(t, 1) } else { rd(t, 2) };
            t.regs[reg_of(&o[0])] = mask(v, ty);
        }
        "cvt" => {
            let dst_ty = parts[parts.len() - 2];
            let rnd = parts.get(1).copied().filter(|p| p.starts_with('r'));
            let sat = parts.contains(&"sat");
            let v = rd(t, 1);
            let as_f32 = match ty {
                "f32" => Some(f(v)),
                "f16" => Some(f16::from_bits(v as u16).to_f32()),
                "bf16" => Some(bf16::from_bits(v as u16).to_f32()),
                _ => None,
            };
            let out = match (dst_ty, as_f32) {
                ("f32", Some(x)) => fb(match rnd {
                    Some("rzi") => x.trunc(),
                    Some("rni") => x.round_ties_even(),
                    Some("rmi") => x.floor(),
                    Some("rpi") => x.ceil(),
                    _ => x,
                }),
                ("f16", Some(x)) => u64::from(f16::from_f32(x).to_bits()),
                ("bf16", Some(x)) => u64::from(bf16::from_f32(x).to_bits()),
                ("f32", None) => fb(if signed {
                    sext(v, ty) as f32
                } else {
                    mask(v, ty) as f32
                }),
                (int, Some(x)) => {
                    let r = match rnd {
                        Some("rzi") => x.trunc(),
                        Some("rni") => x.round_ties_even(),
                        Some("rmi") => x.floor(),
                        Some("rpi") => x.ceil(),
                        other => panic!("cvt to int with rounding {other:?}"),
                    };
                    let (lo, hi) = match int {
                        "s8" => (-128.0, 127.0),
                        "u8" => (0.0, 255.0),
                        "s32" => (i32::MIN as f32, i32::MAX as f32),
                        "u32" => (0.0, u32::MAX as f32),
                        other => panic!("cvt to {other}"),
                    };
                    let _ = sat;
                    let c = if r.is_nan() { 0.0 } else { r.clamp(lo, hi) };
                    mask(
                        if int.starts_with('s') {
                            (c as i64) as u64
                        } else {
                            c as u64
                        },
                        int,
                    )
                }
                (int, None) => {
                    let x = if signed {
                        sext(v, ty) as u64
                    } else {
                        mask(v, ty)
                    };
                    mask(x, int)
                }
            };
            t.regs[reg_of(&o[0])] = out;
        }
        "dp4a" => {
            let (a, b, c) = (rd(t, 1) as u32, rd(t, 2) as u32, rd(t, 3) as u32 as i32);
            // `dp4a.atype.btype`: each operand's bytes signed (s32) or unsigned (u32).
            let byte = |v: u32, k: u32, ty: &str| match ty {
                "u32" => i32::from((v >> (8 * k)) as u8),
                "s32" => i32::from((v >> (8 * k)) as u8 as i8),
                other => panic!("dp4a type {other}"),
            };
            let sum = (0..4).fold(c, |acc, k| {
                let x = byte(a, k, parts[1]);
                let y = byte(b, k, parts[2]);
                acc.wrapping_add(x * y)
            });
            t.regs[reg_of(&o[0])] = u64::from(sum as u32);
        }
        "prmt" => {
            let (a, b, s) = (rd(t, 1) as u32, rd(t, 2) as u32, rd(t, 3) as u32);
            let bytes = (u64::from(b) << 32 | u64::from(a)).to_le_bytes();
            let out = (0..4).fold(0u32, |acc, k| {
                let sel = (s >> (4 * k)) & 0xf;
                let mut byte = bytes[(sel & 7) as usize];
                if sel & 8 != 0 {
                    byte = if byte & 0x80 != 0 { 0xff } else { 0 };
                }
                acc | (u32::from(byte) << (8 * k))
            });
            t.regs[reg_of(&o[0])] = u64::from(out);
        }
        "shf" => {
            let (lo, hi, n) = (rd(t, 1), rd(t, 2), (rd(t, 3) as u32).min(32));
            t.regs[reg_of(&o[0])] = ((hi << 32 | lo) >> n) & 0xffff_ffff;
        }
        "bfe" => {
            let (a, pos, len) = (rd(t, 1), rd(t, 2) as u32 & 0xff, rd(t, 3) as u32 & 0xff);
            let w = width(ty);
            let v = if len == 0 {
                0
            } else {
                let field = (mask(a, ty) >> pos.min(w - 1)) & ((1u64 << len.min(w)) - 1);
                if signed && (field >> (len - 1)) & 1 == 1 {
                    mask(field | (!0u64 << len), ty)
                } else {
                    field
                }
            };
            t.regs[reg_of(&o[0])] = v;
        }
        _ if float => {
            let x = |i: usize| f(rd(t, i));
            let r = match op {
                "add" => x(1) + x(2),
                "sub" => x(1) - x(2),
                "mul" => x(1) * x(2),
                "div" => x(1) / x(2),
                "fma" => x(1).mul_add(x(2), x(3)),
                "min" => x(1).min(x(2)),
                "max" => x(1).max(x(2)),
                "abs" => x(1).abs(),
                "neg" => -x(1),
                "copysign" => x(2).copysign(x(1)),
                "rcp" => 1.0 / x(1),
                "sqrt" => x(1).sqrt(),
                "rsqrt" => 1.0 / x(1).sqrt(),
                "ex2" => x(1).exp2(),
                "lg2" => x(1).log2(),
                "sin" => x(1).sin(),
                "cos" => x(1).cos(),
                other => panic!("float op {other}"),
            };
            t.regs[reg_of(&o[0])] = fb(r);
        }
        _ => {
            let a = rd(t, 1);
            let b = if o.len() > 2 { rd(t, 2) } else { 0 };
            let wide_ty = |ty: &str| match ty {
                "u32" => "u64",
                "s32" => "s64",
                "u16" => "u32",
                _ => "s32",
            };
            // `a op b` on the signed (sign-extended) or the unsigned (masked) reading.
            let int = |on_signed: fn(i64, i64) -> i64, on_unsigned: fn(u64, u64) -> u64| {
                if signed {
                    on_signed(sext(a, ty), sext(b, ty)) as u64
                } else {
                    on_unsigned(mask(a, ty), mask(b, ty))
                }
            };
            let (v, out_ty) = match (op, parts.get(1).copied()) {
                ("mul", Some("wide")) => (int(|x, y| x * y, |x, y| x * y), wide_ty(ty)),
                ("mad", Some("wide")) => (
                    int(|x, y| x * y, |x, y| x * y).wrapping_add(rd(t, 3)),
                    wide_ty(ty),
                ),
                ("mul", _) => (a.wrapping_mul(b), ty),
                ("mad", _) => (a.wrapping_mul(b).wrapping_add(rd(t, 3)), ty),
                ("add", _) => (a.wrapping_add(b), ty),
                ("sub", _) => (a.wrapping_sub(b), ty),
                ("div", _) => (int(|x, y| x / y, |x, y| x / y), ty),
                ("rem", _) => (int(|x, y| x % y, |x, y| x % y), ty),
                ("min", _) => (int(i64::min, u64::min), ty),
                ("max", _) => (int(i64::max, u64::max), ty),
                ("shl", _) => (if b >= u64::from(width(ty)) { 0 } else { a << b }, ty),
                ("shr", _) => {
                    let s = b.min(u64::from(width(ty)) - 1);
                    (
                        if signed {
                            (sext(a, ty) >> s) as u64
                        } else if b >= u64::from(width(ty)) {
                            0
                        } else {
                            mask(a, ty) >> s
                        },
                        ty,
                    )
                }
                ("and", _) => (a & b, ty),
                ("or", _) => (a | b, ty),
                ("xor", _) => (a ^ b, ty),
                ("not", _) => (if ty == "pred" { u64::from(a == 0) } else { !a }, ty),
                ("abs", _) => (sext(a, ty).unsigned_abs(), ty),
                ("neg", _) => ((-sext(a, ty)) as u64, ty),
                (other, _) => panic!("integer op {other}.{ty}"),
            };
            t.regs[reg_of(&o[0])] = mask(v, out_ty);
        }
    }
}
