"""Small PyTorch models that the torch backend tests compile: attention as
nanoGPT, Hugging Face GPT-2 (eager), Llama (GQA + RoPE + RMSNorm), BERT (padding
mask) and cross-attention write it.  Written from the models' published
structure, at tiny sizes so the CPU test run stays fast."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# ----------------------------------------------------------------- nanoGPT

class NanoAttention(nn.Module):
    """nanoGPT's CausalSelfAttention: `flash=False` writes attention out and
    masks with the registered tril `bias` buffer; `flash=True` calls SDPA."""

    def __init__(self, n_embd, n_head, block_size, dropout=0.0, flash=False):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)
        self.n_head, self.n_embd, self.dropout, self.flash = n_head, n_embd, dropout, flash
        if not flash:
            self.register_buffer("bias", torch.tril(torch.ones(block_size, block_size))
                                 .view(1, 1, block_size, block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        if self.flash:
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0,
                is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float('-inf'))
            att = F.softmax(att, dim=-1)
            att = self.attn_dropout(att)
            y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class NanoMLP(nn.Module):
    def __init__(self, n_embd, dropout=0.0):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class NanoBlock(nn.Module):
    def __init__(self, n_embd, n_head, block_size, dropout=0.0, flash=False):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = NanoAttention(n_embd, n_head, block_size, dropout, flash)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = NanoMLP(n_embd, dropout)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class NanoGPT(nn.Module):
    """nanoGPT's GPT: token + position embeddings, blocks, final norm, tied head."""

    def __init__(self, vocab_size=96, block_size=64, n_layer=2, n_head=4, n_embd=64,
                 dropout=0.0, flash=False):
        super().__init__()
        self.block_size = block_size
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList([NanoBlock(n_embd, n_head, block_size, dropout, flash)
                                for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight

    def forward(self, idx):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


# ------------------------------------------------------ Hugging Face GPT-2

class Conv1D(nn.Module):
    """HF's GPT-2 projection: y = x @ W + b with W stored [in, out] (addmm)."""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.02)
        self.bias = nn.Parameter(torch.randn(nf) * 0.02)

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


def new_gelu(x):
    """HF's gelu_new (the tanh approximation written out)."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class HFGPT2Block(nn.Module):
    """A GPT-2 block as HF's eager attention path writes it: the causal mask
    from arange comparisons turned into an additive mask of the dtype's
    lowest value, `* scaling`, softmax in f32, Conv1D projections."""

    def __init__(self, n_embd=64, n_head=4, dropout=0.0):
        super().__init__()
        self.n_head, self.head_dim, self.dropout = n_head, n_embd // n_head, dropout
        self.ln_1 = nn.LayerNorm(n_embd)
        self.c_attn = Conv1D(3 * n_embd, n_embd)
        self.c_proj = Conv1D(n_embd, n_embd)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.c_fc = Conv1D(4 * n_embd, n_embd)
        self.mlp_proj = Conv1D(n_embd, 4 * n_embd)

    def attn(self, h):
        B, T, C = h.shape
        q, k, v = self.c_attn(h).split(C, dim=2)
        shape = (B, T, -1, self.head_dim)
        q, k, v = (t.view(shape).transpose(1, 2) for t in (q, k, v))
        pos = torch.arange(T, device=h.device)
        allowed = pos[None, :] <= pos[:, None]
        zero = torch.zeros((), dtype=h.dtype, device=h.device)
        lowest = torch.full((), torch.finfo(h.dtype).min, dtype=h.dtype, device=h.device)
        mask = torch.where(allowed, zero, lowest)[None, None]
        w = torch.matmul(q, k.transpose(2, 3)) * self.head_dim ** -0.5
        w = w + mask
        w = F.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
        w = F.dropout(w, p=self.dropout, training=self.training)
        o = torch.matmul(w, v).transpose(1, 2).contiguous().reshape(B, T, C)
        return self.c_proj(o)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp_proj(new_gelu(self.c_fc(self.ln_2(x))))


# ------------------------------------------------------------------ Llama

class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim) + 0.1 * torch.randn(dim))
        self.eps = eps

    def forward(self, x):
        dt = x.dtype
        x = x.to(torch.float32)
        var = x.pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(var + self.eps)
        return self.weight * x.to(dt)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def repeat_kv(x, n_rep):
    b, h, s, d = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, h, n_rep, s, d).reshape(b, h * n_rep, s, d)


class LlamaBlock(nn.Module):
    """A Llama decoder layer: RMSNorm, RoPE from an inv_freq buffer and
    arange positions, grouped-query attention through repeat_kv, a
    triu(-inf) causal mask, SwiGLU MLP; bias-free linears."""

    def __init__(self, dim=64, n_head=4, n_kv_head=2, hidden=128, theta=10000.0):
        super().__init__()
        self.n_head, self.n_kv, self.hd = n_head, n_kv_head, dim // n_head
        self.q_proj = nn.Linear(dim, n_head * self.hd, bias=False)
        self.k_proj = nn.Linear(dim, n_kv_head * self.hd, bias=False)
        self.v_proj = nn.Linear(dim, n_kv_head * self.hd, bias=False)
        self.o_proj = nn.Linear(n_head * self.hd, dim, bias=False)
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)
        self.in_norm, self.post_norm = RMSNorm(dim), RMSNorm(dim)
        inv_freq = 1.0 / (theta ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def rope(self, T, device, dtype):
        pos = torch.arange(T, device=device, dtype=torch.float32)
        freqs = pos[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(dtype), emb.sin().to(dtype)

    def forward(self, x):
        B, T, C = x.shape
        h = self.in_norm(x)
        q = self.q_proj(h).view(B, T, self.n_head, self.hd).transpose(1, 2)
        k = self.k_proj(h).view(B, T, self.n_kv, self.hd).transpose(1, 2)
        v = self.v_proj(h).view(B, T, self.n_kv, self.hd).transpose(1, 2)
        cos, sin = self.rope(T, x.device, x.dtype)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k, v = repeat_kv(k, self.n_head // self.n_kv), repeat_kv(v, self.n_head // self.n_kv)
        w = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.hd)
        mask = torch.full((T, T), float("-inf"), device=x.device, dtype=x.dtype).triu(1)
        w = w + mask
        w = F.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
        o = torch.matmul(w, v).transpose(1, 2).reshape(B, T, C)
        x = x + self.o_proj(o)
        h = self.post_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


# ------------------------------------------------------------------- BERT

class BertLayer(nn.Module):
    """A BERT encoder layer: bidirectional attention with the padding mask
    turned into (1 - mask) * finfo.min, post-norm, erf GELU."""

    def __init__(self, dim=64, n_head=4, hidden=128):
        super().__init__()
        self.n_head, self.hd = n_head, dim // n_head
        self.query, self.key, self.value = (nn.Linear(dim, dim) for _ in range(3))
        self.out, self.ln1 = nn.Linear(dim, dim), nn.LayerNorm(dim, eps=1e-12)
        self.inter, self.out2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.ln2 = nn.LayerNorm(dim, eps=1e-12)

    def heads(self, t):
        B, T, _ = t.shape
        return t.view(B, T, self.n_head, self.hd).permute(0, 2, 1, 3)

    def forward(self, x, attention_mask):
        B, T, C = x.shape
        ext = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        q, k, v = self.heads(self.query(x)), self.heads(self.key(x)), self.heads(self.value(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.hd)
        s = s + ext
        p = F.softmax(s, dim=-1)
        o = torch.matmul(p, v).permute(0, 2, 1, 3).contiguous().view(B, T, C)
        x = self.ln1(x + self.out(o))
        return self.ln2(x + self.out2(F.gelu(self.inter(x))))


class BertEncoder(nn.Module):
    def __init__(self, vocab=50, dim=64, n_layer=2, max_pos=64):
        super().__init__()
        self.word, self.pos = nn.Embedding(vocab, dim), nn.Embedding(max_pos, dim)
        self.ln = nn.LayerNorm(dim, eps=1e-12)
        self.layers = nn.ModuleList([BertLayer(dim) for _ in range(n_layer)])

    def forward(self, ids, attention_mask):
        pos = torch.arange(ids.shape[1], device=ids.device)[None]
        x = self.ln(self.word(ids) + self.pos(pos))
        for layer in self.layers:
            x = layer(x, attention_mask)
        return x


# -------------------------------------------------------- cross-attention

class CrossAttention(nn.Module):
    """Decoder queries over encoder memory (L != S), no mask, scale on q."""

    def __init__(self, dim=64, n_head=4):
        super().__init__()
        self.n_head, self.hd = n_head, dim // n_head
        self.q, self.kv, self.o = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim), nn.Linear(dim, dim)

    def forward(self, x, memory):
        B, L, C = x.shape
        S = memory.shape[1]
        q = self.q(x).view(B, L, self.n_head, self.hd).transpose(1, 2) * self.hd ** -0.5
        k, v = self.kv(memory).chunk(2, dim=-1)
        k = k.view(B, S, self.n_head, self.hd).transpose(1, 2)
        v = v.view(B, S, self.n_head, self.hd).transpose(1, 2)
        p = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
        o = (p @ v).transpose(1, 2).reshape(B, L, C)
        return x + self.o(o)


# ---------------------------------------------- SDPA callers and leftovers

class SdpaGQA(nn.Module):
    """Calls SDPA itself, with enable_gqa and a causal flag."""

    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)


class CudaConvertedMask(nn.Module):
    """SDPA with a bool causal + key padding mask, as PyTorch's CUDA dispatch
    hands it to its memory-efficient kernel (ATen convert_boolean_attn_mask:
    where(m, 0, -inf), then the
    memory-efficient kernel's preprocess_mask: pad the last dim to a multiple
    of 8, slice it back, expand to [B, H, L, S]); written out so the CPU
    sees the graph a GPU run gets."""

    def forward(self, q, k, v, am):
        b, h, n, _ = q.shape
        s = k.shape[2]
        i = torch.arange(n, device=q.device)
        j = torch.arange(s, device=q.device)
        m = (j[None, :] <= i[:, None])[None, None] & am.bool()[:, None, None, :]
        zero = torch.scalar_tensor(0.0, dtype=q.dtype, device=q.device)
        fill = torch.scalar_tensor(float("-inf"), dtype=q.dtype, device=q.device)
        bias = torch.where(m, zero, fill)
        bias = F.pad(bias, (0, 8 - s % 8))[..., :s].expand(b, h, n, s)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


class MHA(nn.Module):
    """nn.MultiheadAttention without weights (it calls SDPA), batch first."""

    def __init__(self, dim=64, n_head=4):
        super().__init__()
        self.mha = nn.MultiheadAttention(dim, n_head, batch_first=True)

    def forward(self, x):
        return self.mha(x, x, x, need_weights=False)[0]


class WithCumsum(nn.Module):
    """Attention followed by an op tirc lacks (cumsum): partitioned."""

    def __init__(self, dim=64):
        super().__init__()
        self.attn = CrossAttention(dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        y = self.attn(x, x)
        return self.proj(torch.cumsum(y, dim=1)) + y


class SafeSoftmaxAttention(nn.Module):
    """What SDPA's math decomposition writes: _safe_softmax (0, not nan, on a
    fully masked row), a 0-d tensor divisor; `rows` (a bool [L]) masks whole
    query rows so some rows are fully masked."""

    def forward(self, q, k, v, rows):
        s = (q @ k.transpose(-2, -1)) / torch.full([], 4.0, dtype=q.dtype, device=q.device)
        s = s.masked_fill(rows[:, None], float("-inf"))
        p = torch.ops.aten._safe_softmax(s, -1)
        t = (q * 2).masked_fill(rows[:, None], float("-inf"))  # not attention: stays unfused
        return p @ v, torch.ops.aten._safe_softmax(t, -1).sum(-1)


class EmptyPastKV(nn.Module):
    """Self-attention after an empty KV cache: cat with a zero-length past."""

    def forward(self, q, k, v, past_k, past_v):
        k = torch.cat([past_k, k], dim=2)
        v = torch.cat([past_v, v], dim=2)
        return F.softmax(q @ k.transpose(-2, -1) * 0.25, dim=-1) @ v


class SplitByCumsum(nn.Module):
    """A region boundary in the middle of a [B*T, C] reshape: the second
    region's input is [s0*s1, C] and it needs s0 and s1 on their own."""

    def forward(self, x):
        B, T, C = x.shape
        y = torch.cumsum(torch.tanh(x).reshape(B * T, C), dim=0)
        return y.reshape(B, T, C).transpose(0, 1).contiguous() * 2.0


class NormsAndActivations(nn.Module):
    """Ops that reach tirc through the decomposition table or var/std."""

    def __init__(self, dim=32):
        super().__init__()
        self.w = nn.Parameter(torch.randn(dim))
        self.lin = nn.Linear(dim, dim)

    def forward(self, x):
        y = F.rms_norm(x, (x.shape[-1],), self.w, 1e-6)
        y = F.leaky_relu(self.lin(y)) + torch.var(y, -1, keepdim=True) + F.hardswish(y)
        return torch.logsumexp(y, -1) + torch.linalg.vector_norm(y, dim=-1) + y.std(-1)
