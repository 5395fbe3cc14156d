"""The built-in transformer (`--model transformer`): a small decoder-only language model from torch.nn alone.

Token embedding and learned positions, LAYERS pre-norm nn.TransformerEncoderLayer blocks under a causal mask
(a decoder-only model is an encoder stack that cannot look ahead), a final LayerNorm and a linear head over the
vocabulary; cross-entropy of each next token: 5.3 M parameters, 3.4 GFLOP a sample for a train step (1.1 forward,
2.3 backward). Sized so that one CPU core still runs the quick matrix (`--quick --threads 1`: 41 s here, a train
step at batch 16 about 1.2 s), while a GPU at batch 8-64 multiplies matrices of 1,000-8,000 rows (SEQUENCE tokens
a sample) by 256-1024 columns instead of the Net's launch-bound handfuls.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.model import Model

VOCABULARY = 4096
WIDTH = 256  # d_model
HEADS = 4
LAYERS = 4
FEEDFORWARD = 4 * WIDTH
SEQUENCE = 128  # tokens a sample
DROPOUT = 0.1  # as GPT-2 trains: the runs' isolation reseeds it before every round


class TinyLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCABULARY, WIDTH)
        self.position = nn.Parameter(torch.randn(SEQUENCE, WIDTH) * 0.02)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                WIDTH, HEADS, FEEDFORWARD, DROPOUT, activation="gelu", batch_first=True, norm_first=True
            )
            for _ in range(LAYERS)
        )
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, VOCABULARY)
        self.mask: torch.Tensor
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(SEQUENCE), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[1]
        x = self.embed(tokens) + self.position[:length]
        mask = self.mask[:length, :length]
        for block in self.blocks:
            x = block(x, src_mask=mask, is_causal=True)
        return self.head(self.norm(x))  # (batch, tokens, vocabulary)


def next_token_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1))


def token_batch(batch_size: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token sequences (seeded by the caller); each position's target is the token after it."""
    tokens = torch.randint(0, VOCABULARY, (batch_size, SEQUENCE + 1))
    return tokens[:, :-1].to(device), tokens[:, 1:].to(device)


def parameter_count() -> int:
    return sum(p.numel() for p in TinyLM().parameters())


def transformer_model(loss: str) -> Model:
    described = (
        f"decoder-only language model: {LAYERS} layers, width {WIDTH}, {HEADS} heads, "
        f"{SEQUENCE} tokens, vocabulary {VOCABULARY}"
    )
    return Model(TinyLM(), token_batch, next_token_loss, loss="cross_entropy", description=described)
