//! The CPU KV cache.

/// Keys and values of past positions, f32, laid out `[layer][kv_head][pos][head_dim]`.
#[derive(Clone, Debug)]
pub struct CpuKvCache {
    n_kv_heads: usize,
    head_dim: usize,
    capacity: usize,
    /// `[n_layers, n_kv_heads, capacity, head_dim]`
    k: Vec<f32>,
    /// `[n_layers, n_kv_heads, capacity, head_dim]`
    v: Vec<f32>,
}

impl CpuKvCache {
    pub fn new(n_layers: usize, n_kv_heads: usize, head_dim: usize, capacity: usize) -> Self {
        let len = n_layers * n_kv_heads * capacity * head_dim;
        CpuKvCache {
            n_kv_heads,
            head_dim,
            capacity,
            k: vec![0.0; len],
            v: vec![0.0; len],
        }
    }

    /// Positions the cache can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn offset(&self, layer: usize, head: usize, pos: usize) -> usize {
        ((layer * self.n_kv_heads + head) * self.capacity + pos) * self.head_dim
    }

    /// Stores one position's key and value heads (`[n_kv_heads * head_dim]` each).
    pub fn store(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        let d = self.head_dim;
        for h in 0..self.n_kv_heads {
            let at = self.offset(layer, h, pos);
            self.k[at..at + d].copy_from_slice(&k[h * d..(h + 1) * d]);
            self.v[at..at + d].copy_from_slice(&v[h * d..(h + 1) * d]);
        }
    }

    /// Keys of `layer`, kv head `head`, positions `0..len`: `[len, head_dim]`.
    pub fn keys(&self, layer: usize, head: usize, len: usize) -> &[f32] {
        let at = self.offset(layer, head, 0);
        &self.k[at..at + len * self.head_dim]
    }

    /// Values of `layer`, kv head `head`, positions `0..len`: `[len, head_dim]`.
    pub fn values(&self, layer: usize, head: usize, len: usize) -> &[f32] {
        let at = self.offset(layer, head, 0);
        &self.v[at..at + len * self.head_dim]
    }
}
