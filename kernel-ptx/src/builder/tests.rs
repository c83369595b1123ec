use super::*;

fn body(b: KernelBuilder) -> String {
    b.finish().text
}

#[test]
fn registers_are_numbered_per_class_in_creation_order() {
    let mut b = KernelBuilder::new("k", SmTarget::Sm90);
    let a = b.mov(Ty::U32, 7u32);
    let f = b.mov(Ty::F32, 1.5f32);
    let c = b.add(Ty::U32, a, 1u32);
    let p = b.setp(Cmp::Lt, Ty::U32, c, a);
    let g = b.fma(Ty::F32, f, f, f);
    assert_eq!((a.to_string(), c.to_string()), ("%r0".into(), "%r1".into()));
    assert_eq!(
        (f.to_string(), g.to_string(), p.to_string()),
        ("%f0".into(), "%f1".into(), "%p0".into())
    );
    let text = body(b);
    assert!(
        text.contains("\t.reg .pred %p<1>;\n\t.reg .b32 %r<2>;\n\t.reg .f32 %f<2>;\n"),
        "{text}"
    );
    assert!(text.contains("\tmov.f32 %f0, 0f3FC00000;\n"));
    assert!(text.contains("\tadd.u32 %r1, %r0, 1;\n"));
    assert!(text.contains("\tsetp.lt.u32 %p0, %r1, %r0;\n"));
    assert!(text.contains("\tfma.rn.f32 %f1, %f0, %f0, %f0;\n"));
}

#[test]
fn params_are_declared_in_order_and_pointers_converted_to_global() {
    let mut b = KernelBuilder::new("entry", SmTarget::Sm90);
    let w = b.param("w", ParamKind::Ptr);
    b.param("n", ParamKind::U32);
    b.param("eps", ParamKind::F32);
    assert_eq!(w.class, RegClass::B64);
    let text = body(b);
    assert!(text.starts_with(
        ".visible .entry entry(\n\t.param .u64 param_w,\n\t.param .u32 param_n,\n\t.param .f32 param_eps\n)\n{\n"
    ));
    assert!(text.contains("\tld.param.u64 %rd0, [param_w];\n\tcvta.to.global.u64 %rd1, %rd0;\n"));
    assert!(text.contains("\tld.param.f32 %f0, [param_eps];\n"));
}

#[test]
fn loads_stores_and_vector_forms_render() {
    let mut b = KernelBuilder::new("k", SmTarget::Sm90);
    let p = b.param("p", ParamKind::Ptr);
    let v = b.ld_vec(Space::GlobalNcNoAllocate, Ty::U32, 4, Addr::reg_off(p, 16));
    let h = b.ld(Space::GlobalNc, Ty::B16, Addr::reg_off(p, -2));
    b.st_vec(Space::Global, Ty::U32, Addr::reg(p), &v);
    b.st(Space::Global, Ty::B16, Addr::reg_off(p, 4), h);
    let text = body(b);
    assert!(
        text.contains("\tld.global.nc.L1::no_allocate.v4.u32 {%r0, %r1, %r2, %r3}, [%rd1+16];\n"),
        "{text}"
    );
    assert!(text.contains("\tld.global.nc.b16 %rs0, [%rd1+-2];\n"));
    assert!(text.contains("\tst.global.v4.u32 [%rd1], {%r0, %r1, %r2, %r3};\n"));
    assert!(text.contains("\tst.global.b16 [%rd1+4], %rs0;\n"));
}

#[test]
fn bitwise_ops_use_bit_types_and_floats_round_explicitly() {
    let mut b = KernelBuilder::new("k", SmTarget::Sm90);
    let a = b.mov(Ty::U32, Special::TidX);
    b.and(Ty::U32, a, 31u32);
    b.shl(Ty::U32, a, 2u32);
    let f = b.cvt(Ty::F32, Ty::U32, Some(Round::Rn), a);
    b.mul(Ty::F32, f, f);
    b.mul(Ty::U32, a, a);
    let h = b.cvt(Ty::F16, Ty::F32, Some(Round::Rn), f);
    b.cvt(Ty::F32, Ty::F16, None, h);
    let text = body(b);
    for line in [
        "mov.u32 %r0, %tid.x;",
        "and.b32 %r1, %r0, 31;",
        "shl.b32 %r2, %r0, 2;",
        "cvt.rn.f32.u32 %f0, %r0;",
        "mul.rn.f32 %f1, %f0, %f0;",
        "mul.lo.u32 %r3, %r0, %r0;",
        "cvt.rn.f16.f32 %rs0, %f0;",
        "cvt.f32.f16 %f2, %rs0;",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[test]
fn warp_and_tensor_core_instructions_render() {
    let mut b = KernelBuilder::new("k", SmTarget::Sm90);
    let x = b.mov(Ty::U32, 1u32);
    let f = b.mov(Ty::F32, 0.0f32);
    b.dp4a(x, x, 0u32);
    b.shfl(Shfl::Bfly, f, 16u32);
    b.shfl(Shfl::Down, x, 1u32);
    b.mma_m16n8k32_s8([x; 4], [x; 2], [x; 4]);
    b.mma_m16n8k16(MmaFloat::Bf16, [x; 4], [x; 2], [f; 4]);
    b.bar_sync(0);
    b.griddep_wait();
    b.griddep_launch_dependents();
    let text = body(b);
    for line in [
        "dp4a.s32.s32 %r1, %r0, %r0, 0;",
        "shfl.sync.bfly.b32 %f1, %f0, 16, 31, 0xffffffff;",
        "shfl.sync.down.b32 %r2, %r0, 1, 31, 0xffffffff;",
        "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%r3, %r4, %r5, %r6}, {%r0, %r0, %r0, %r0}, {%r0, %r0}, {%r0, %r0, %r0, %r0};",
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%f2, %f3, %f4, %f5}, {%r0, %r0, %r0, %r0}, {%r0, %r0}, {%f0, %f0, %f0, %f0};",
        "bar.sync 0;",
        "griddepcontrol.wait;",
        "griddepcontrol.launch_dependents;",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[test]
fn griddepcontrol_is_omitted_below_sm90() {
    let mut b = KernelBuilder::new("k", SmTarget::Sm80);
    b.griddep_wait();
    b.griddep_launch_dependents();
    assert!(!body(b).contains("griddepcontrol"));
}

#[test]
fn labels_predicates_and_shared_arrays_render() {
    let mut b = KernelBuilder::new("k", SmTarget::Sm90);
    let smem = b.shared_array("tile", 512, 16);
    let base = b.shared_base(&smem);
    let p = b.setp(Cmp::Eq, Ty::U32, base, 0u32);
    let top = b.label("top");
    b.place(&top);
    b.predicated(p, true, |b| {
        b.st(Space::Shared, Ty::F32, Addr::reg_off(base, 4), 1.0f32)
    });
    b.bra_if(p, false, &top);
    b.ret();
    let text = body(b);
    assert!(text.contains("\t.shared .align 16 .b8 tile[512];\n"));
    assert!(text.contains(
        "$L_top_0:\n\t@!%p0 st.shared.f32 [%r0+4], 0f3F800000;\n\t@%p0 bra $L_top_0;\n\tret;\n"
    ));
}

#[test]
fn module_header_is_deterministic() {
    let k = KernelBuilder::new("a", SmTarget::Sm80).finish();
    let text = render_module(SmTarget::Sm80, &[k]);
    assert!(
        text.contains("\n.version 8.4\n.target sm_80\n.address_size 64\n\n.visible .entry a(\n"),
        "{text}"
    );
}
