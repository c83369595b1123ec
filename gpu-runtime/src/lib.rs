//! cudarc device, stream, buffers, module cache, the one launch path and CUDA graphs.
