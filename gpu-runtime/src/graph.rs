//! CUDA graphs: capture a sequence of `Gpu::launch` calls once, replay it with one call.
//!
//! Capture uses `CU_STREAM_CAPTURE_MODE_RELAXED` (as llama.cpp's ggml-cuda does), so loading a
//! kernel module on first use inside a capture is allowed. Allocations and host transfers are
//! refused during capture: every buffer a graph uses must exist before capture, and inputs
//! that change between replays (token ids, positions) live in device memory that the host
//! updates between replays.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaStream, result, sys};

use crate::buffer::Retained;
use crate::error::BIND_CONTEXT;
use crate::{Gpu, GpuError};

/// An instantiated CUDA graph (`CUgraphExec`) of one `Gpu`'s launches.
///
/// A captured graph bakes in the device address of every buffer its launches touch, and keeps
/// every such allocation alive until the graph is dropped or re-captured by
/// [`update`](CapturedGraph::update): dropping a `DeviceBuffer` that a graph uses does not
/// free its memory, so a replay never writes into memory that was reused. Buffer *contents*
/// are read at replay time, so the host may change inputs between replays.
pub struct CapturedGraph {
    exec: sys::CUgraphExec,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    retained: Vec<Retained>,
}

// SAFETY: a `CUgraphExec` may be used from any thread with the context current (every use
// binds it); `&mut self` on `update` and the absence of `Sync` serialise calls, as the CUDA
// graph thread-safety rules require.
unsafe impl Send for CapturedGraph {}

/// How [`CapturedGraph::update`] applied a new capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphUpdate {
    /// `cuGraphExecUpdate` changed the parameters of the existing executable graph.
    InPlace,
    /// The topology changed; the graph was instantiated again.
    Reinstantiated,
}

impl Gpu {
    /// Captures the launches `record` makes on this `Gpu` into a graph and instantiates it.
    /// Nothing runs during capture. If `record` fails (or panics) the capture is ended and
    /// discarded.
    pub fn capture<E: From<GpuError>>(
        &self,
        record: impl FnOnce(&Gpu) -> Result<(), E>,
    ) -> Result<CapturedGraph, E> {
        let (graph, retained) = self.capture_graph(record)?;
        let exec = instantiate(self.context(), graph).map_err(E::from)?;
        Ok(CapturedGraph {
            exec,
            ctx: self.context().clone(),
            stream: self.stream().clone(),
            retained,
        })
    }

    /// Runs `record` under stream capture; returns the raw graph (owned by the caller) and the
    /// allocations the captured launches touched.
    fn capture_graph<E: From<GpuError>>(
        &self,
        record: impl FnOnce(&Gpu) -> Result<(), E>,
    ) -> Result<(sys::CUgraph, Vec<Retained>), E> {
        {
            let mut state = self.capture_state();
            if state.is_some() {
                return Err(GpuError::CaptureInProgress.into());
            }
            self.bind()?;
            // SAFETY: the stream is live and owned by this `Gpu`.
            unsafe {
                result::stream::begin_capture(
                    self.stream().cu_stream(),
                    sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED,
                )
            }
            .map_err(GpuError::driver("cuStreamBeginCapture"))?;
            *state = Some(Vec::new());
        }
        let mut guard = CaptureGuard {
            gpu: self,
            ended: false,
        };
        let recorded = record(self);
        let (graph, retained) = guard.end();
        let graph = match (recorded, graph) {
            (Ok(()), Ok(graph)) if node_count(graph) > 0 => graph,
            (Ok(()), Ok(graph)) => {
                destroy_graph(self.context(), graph);
                return Err(GpuError::EmptyCapture.into());
            }
            (Ok(()), Err(source)) => {
                return Err(GpuError::Driver {
                    op: "cuStreamEndCapture",
                    source,
                }
                .into());
            }
            (Err(e), graph) => {
                if let Ok(graph) = graph {
                    destroy_graph(self.context(), graph);
                }
                return Err(e);
            }
        };
        Ok((graph, retained))
    }
}

/// Ends a capture that `record` left open by returning or unwinding.
struct CaptureGuard<'a> {
    gpu: &'a Gpu,
    ended: bool,
}

impl CaptureGuard<'_> {
    fn end(
        &mut self,
    ) -> (
        Result<sys::CUgraph, cudarc::driver::DriverError>,
        Vec<Retained>,
    ) {
        self.ended = true;
        let retained = self.gpu.capture_state().take().unwrap_or_default();
        let ctx = self.gpu.context();
        // Not `bind_to_thread`: it may fail on an unrelated deferred error, which would leave
        // the stream capturing.
        // SAFETY: the context is live (held by the `Gpu`); the stream is live and in capture
        // mode, begun by `capture_graph`.
        let graph = unsafe {
            result::ctx::set_current(ctx.cu_ctx())
                .and_then(|()| result::stream::end_capture(self.gpu.stream().cu_stream()))
        };
        (graph, retained)
    }
}

impl Drop for CaptureGuard<'_> {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if let (Ok(graph), _) = self.end()
            && !graph.is_null()
        {
            destroy_graph(self.gpu.context(), graph);
        }
    }
}

impl CapturedGraph {
    /// Launches the whole graph on the `Gpu`'s stream (asynchronous).
    pub fn replay(&self) -> Result<(), GpuError> {
        self.bind()?;
        // SAFETY: `exec` is live (owned by `self`) and `stream` belongs to its context.
        unsafe { result::graph::launch(self.exec, self.stream.cu_stream()) }
            .map_err(GpuError::driver("cuGraphLaunch"))
    }

    /// Uploads the graph's resources now so the first replay does not pay for it.
    pub fn upload(&self) -> Result<(), GpuError> {
        self.bind()?;
        // SAFETY: as for `replay`.
        unsafe { result::graph::upload(self.exec, self.stream.cu_stream()) }
            .map_err(GpuError::driver("cuGraphUpload"))
    }

    /// Re-captures with `record` (which must use `gpu`, the `Gpu` this graph was captured on)
    /// and applies it with `cuGraphExecUpdate`, or instantiates again when the topology
    /// changed. Replays already queued run the old graph; the allocations the old graph
    /// retained are released afterwards in stream order.
    pub fn update<E: From<GpuError>>(
        &mut self,
        gpu: &Gpu,
        record: impl FnOnce(&Gpu) -> Result<(), E>,
    ) -> Result<GraphUpdate, E> {
        if !Arc::ptr_eq(gpu.stream(), &self.stream) {
            return Err(GpuError::ForeignGraph.into());
        }
        let (graph, retained) = gpu.capture_graph(record)?;
        let mut info = sys::CUgraphExecUpdateResultInfo {
            result: sys::CUgraphExecUpdateResult::CU_GRAPH_EXEC_UPDATE_SUCCESS,
            errorNode: std::ptr::null_mut(),
            errorFromNode: std::ptr::null_mut(),
        };
        self.bind()?;
        // SAFETY: `exec` and `graph` are live and of the same context; `info` is a valid
        // out-pointer for the call.
        let updated = unsafe { sys::cuGraphExecUpdate_v2(self.exec, graph, &mut info) }.result();
        let how = match updated {
            Ok(()) => GraphUpdate::InPlace,
            Err(_) => match instantiate(&self.ctx, graph) {
                Ok(exec) => {
                    // SAFETY: the old exec is owned by `self` and replaced below; a replay of
                    // it still in flight completes before the driver frees it.
                    self.ctx
                        .record_err(unsafe { result::graph::exec_destroy(self.exec) });
                    self.exec = exec;
                    GraphUpdate::Reinstantiated
                }
                Err(e) => return Err(e.into()),
            },
        };
        if how == GraphUpdate::InPlace {
            destroy_graph(&self.ctx, graph);
        }
        self.retained = retained;
        Ok(how)
    }

    /// Number of buffer references the graph retains (one per buffer argument captured).
    pub fn retained_buffers(&self) -> usize {
        self.retained.len()
    }

    fn bind(&self) -> Result<(), GpuError> {
        self.ctx
            .bind_to_thread()
            .map_err(GpuError::driver(BIND_CONTEXT))
    }
}

impl std::fmt::Debug for CapturedGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapturedGraph")
            .field("ordinal", &self.ctx.ordinal())
            .field("retained_buffers", &self.retained.len())
            .finish()
    }
}

impl Drop for CapturedGraph {
    fn drop(&mut self) {
        self.ctx.record_err(self.ctx.bind_to_thread());
        // SAFETY: `exec` is owned by `self` and destroyed exactly once; a replay still in
        // flight completes before the driver frees it.
        self.ctx
            .record_err(unsafe { result::graph::exec_destroy(self.exec) });
    }
}

/// Instantiates `graph` and destroys it (the executable graph does not need it).
fn instantiate(ctx: &Arc<CudaContext>, graph: sys::CUgraph) -> Result<sys::CUgraphExec, GpuError> {
    ctx.bind_to_thread()
        .map_err(GpuError::driver(BIND_CONTEXT))?;
    // SAFETY: `graph` is a live graph returned by `cuStreamEndCapture`.
    let exec = unsafe { result::graph::instantiate(graph, sys::CUgraphInstantiate_flags(0)) };
    destroy_graph(ctx, graph);
    exec.map_err(GpuError::driver("cuGraphInstantiate"))
}

/// Number of nodes in `graph` (0 for a null graph or on error).
fn node_count(graph: sys::CUgraph) -> usize {
    if graph.is_null() {
        return 0;
    }
    let mut count = 0usize;
    // SAFETY: `graph` is a live graph from `cuStreamEndCapture`; a null `nodes` array asks only
    // for the count, written to `count`.
    let status = unsafe { sys::cuGraphGetNodes(graph, std::ptr::null_mut(), &mut count) };
    if status.result().is_ok() { count } else { 0 }
}

fn destroy_graph(ctx: &CudaContext, graph: sys::CUgraph) {
    if graph.is_null() {
        return;
    }
    // SAFETY: `graph` came from `cuStreamEndCapture`, is owned by the caller and is not used
    // after this call.
    ctx.record_err(unsafe { result::graph::destroy(graph) });
}
