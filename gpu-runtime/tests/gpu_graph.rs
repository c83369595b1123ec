//! CUDA graphs on a real GPU: capture records without running, replay equals eager, inputs
//! change between replays, retained buffers, update, refused operations, event timing.

mod common;

use common::{QuantizeThenGemv, nmse, open_gpu, random_values, rng};
use gpu_runtime::{EventTimer, GpuError, GraphUpdate, POISON_BYTE};

#[test]
#[ignore = "needs a CUDA device"]
fn replay_equals_eager_and_capture_runs_nothing() {
    let gpu = open_gpu();
    let mut case = QuantizeThenGemv::new(&gpu, 1000, 4096, 2, 10);
    case.launch(&gpu).unwrap();
    let eager = case.y.to_host().unwrap();
    assert!(nmse(&eager, &case.reference()) < 1e-10);

    case.y.fill_bytes(POISON_BYTE).unwrap();
    let graph = gpu.capture(|g| case.launch(g)).unwrap();
    assert_eq!(graph.retained_buffers(), 5);
    assert!(
        case.y.to_host().unwrap().iter().all(|v| v.is_nan()),
        "capture executed work"
    );

    graph.replay().unwrap();
    assert_eq!(case.y.to_host().unwrap(), eager);

    let mut rng = rng(11);
    for _ in 0..3 {
        let x = random_values(&mut rng, case.m * case.k, -1.5..1.5);
        case.x.copy_from_host(&x).unwrap();
        case.y.fill_bytes(POISON_BYTE).unwrap();
        graph.replay().unwrap();
        let replayed = case.y.to_host().unwrap();
        assert!(nmse(&replayed, &case.reference()) < 1e-10);
        case.y.fill_bytes(POISON_BYTE).unwrap();
        case.launch(&gpu).unwrap();
        assert_eq!(
            case.y.to_host().unwrap(),
            replayed,
            "replay and eager differ"
        );
    }
}

#[test]
#[ignore = "needs a CUDA device"]
fn device_copies_run_eagerly_and_replay_in_graphs() {
    let gpu = open_gpu();
    let host = random_values(&mut rng(17), 1000, -1.0..1.0);
    let src = gpu.upload(&host).unwrap();
    let mut dst = gpu.alloc::<f32>(1003).unwrap();
    dst.fill_bytes(POISON_BYTE).unwrap();
    gpu.copy_device(&src, &dst.view(2..1002).unwrap()).unwrap();
    let back = dst.to_host().unwrap();
    assert_eq!(back[2..1002], host[..]);
    assert!(back[..2].iter().chain(&back[1002..]).all(|v| v.is_nan()));
    assert!(matches!(
        gpu.copy_device(&src, &dst),
        Err(GpuError::LengthMismatch { .. })
    ));

    let mut src = src;
    let graph = gpu
        .capture(|g| {
            g.memset_device(&dst, 0)?;
            g.copy_device(&src, &dst.view(0..1000).unwrap())
        })
        .unwrap();
    assert_eq!(graph.retained_buffers(), 3);
    dst.fill_bytes(POISON_BYTE).unwrap();
    let host2: Vec<f32> = host.iter().map(|v| v * 2.0).collect();
    src.copy_from_host(&host2).unwrap();
    graph.replay().unwrap();
    let back = dst.to_host().unwrap();
    assert_eq!(back[..1000], host2[..]);
    assert_eq!(back[1000..], [0.0; 3], "the captured memset did not run");
}

#[test]
#[ignore = "needs a CUDA device"]
fn a_graph_keeps_the_buffers_it_uses_alive() {
    let gpu = open_gpu();
    let case = QuantizeThenGemv::new(&gpu, 512, 2048, 1, 12);
    let graph = gpu.capture(|g| case.launch(g)).unwrap();
    graph.replay().unwrap();
    let want = case.y.to_host().unwrap();

    let QuantizeThenGemv { w, mut y, .. } = case;
    let weight_bytes = w.len();
    drop(w);
    gpu.synchronize().unwrap();
    // Fresh allocations of the same size would reuse the weights' memory if it had been freed.
    let mut decoys: Vec<_> = (0..8)
        .map(|_| gpu.alloc::<u8>(weight_bytes).unwrap())
        .collect();
    for d in &mut decoys {
        d.fill_bytes(0x7F).unwrap();
    }
    y.fill_bytes(POISON_BYTE).unwrap();
    graph.replay().unwrap();
    assert_eq!(y.to_host().unwrap(), want);
}

#[test]
#[ignore = "needs a CUDA device"]
fn update_in_place_and_by_reinstantiation() {
    let gpu = open_gpu();
    let a = QuantizeThenGemv::new(&gpu, 300, 1024, 1, 13);
    let b = QuantizeThenGemv::new(&gpu, 200, 2048, 1, 14);
    let mut graph = gpu.capture(|g| a.launch(g)).unwrap();
    graph.replay().unwrap();
    assert!(nmse(&a.y.to_host().unwrap(), &a.reference()) < 1e-10);

    // Same kernels, other buffers and dims: the topology is unchanged.
    let how = graph.update(&gpu, |g| b.launch(g)).unwrap();
    assert_eq!(how, GraphUpdate::InPlace);
    graph.replay().unwrap();
    assert!(nmse(&b.y.to_host().unwrap(), &b.reference()) < 1e-10);

    // Two launches more: a different topology.
    let how = graph
        .update(&gpu, |g| {
            a.launch(g)?;
            b.launch(g)
        })
        .unwrap();
    assert_eq!(how, GraphUpdate::Reinstantiated);
    assert_eq!(graph.retained_buffers(), 10);
    graph.replay().unwrap();
    assert!(nmse(&a.y.to_host().unwrap(), &a.reference()) < 1e-10);
    assert!(nmse(&b.y.to_host().unwrap(), &b.reference()) < 1e-10);
}

#[test]
#[ignore = "needs a CUDA device"]
fn allocation_transfers_and_nesting_are_refused_during_capture() {
    let gpu = open_gpu();
    let mut case = QuantizeThenGemv::new(&gpu, 64, 256, 1, 15);

    let err = gpu
        .capture(|g| {
            case.launch(g)?;
            g.alloc::<f32>(16).map(drop)
        })
        .unwrap_err();
    assert!(
        matches!(err, GpuError::NotAllowedDuringCapture { op: "Gpu::alloc" }),
        "{err}"
    );

    let err = gpu
        .capture(|g| g.capture(|_| Ok::<_, GpuError>(())).map(drop))
        .unwrap_err();
    assert!(matches!(err, GpuError::CaptureInProgress), "{err}");

    let x = case.x.to_host().unwrap();
    let err = gpu.capture(|_| case.x.copy_from_host(&x)).unwrap_err();
    assert!(
        matches!(err, GpuError::NotAllowedDuringCapture { .. }),
        "{err}"
    );

    let err = gpu.capture(|_| Ok::<_, GpuError>(())).unwrap_err();
    assert!(matches!(err, GpuError::EmptyCapture), "{err}");

    // The stream is usable again after every failed capture.
    case.y.fill_bytes(POISON_BYTE).unwrap();
    case.launch(&gpu).unwrap();
    assert!(nmse(&case.y.to_host().unwrap(), &case.reference()) < 1e-10);
    gpu.synchronize().unwrap();
}

#[test]
#[ignore = "needs a CUDA device"]
fn event_timer_measures_replays() {
    let gpu = open_gpu();
    let case = QuantizeThenGemv::new(&gpu, 4096, 4096, 1, 16);
    let graph = gpu.capture(|g| case.launch(g)).unwrap();
    graph.upload().unwrap();
    let timer = EventTimer::new(&gpu).unwrap();
    let timing = timer.measure(3, 20, || graph.replay()).unwrap();
    assert_eq!(timing.samples_ms.len(), 20);
    let median = timing.median_ms();
    assert!(median > 0.0 && median < 100.0, "{timing:?}");
    let bytes = (case.w.len() + case.x.len() * 4) as u64;
    println!(
        "quantize+gemv 4096x4096 Q8_0 replay: median {median:.4} ms, roofline {:?} ms",
        gpu.profile().roofline_ms(bytes)
    );
}
