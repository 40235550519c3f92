"""MLM as an engine task: encoder, gather masked positions, vocabulary head there only."""

from __future__ import annotations

import torch
from torch import nn

from ..distill.losses import mlm_loss
from ..models.heads import encode, mlm_head


class MLMTask(nn.Module):
    terms = ["mlm"]

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: dict, norms: dict):
        out = encode(self.model, batch["input_ids"], batch["attention_mask"])
        sel = batch["labels"] != -100
        logits = mlm_head(self.model, out.last_hidden_state[sel])
        loss = mlm_loss(logits, batch["labels"][sel], normalizer=norms["mlm"])
        return loss, {"mlm": loss.detach()}

    @staticmethod
    def norms(n_masked: int, lengths: list) -> dict:
        return {"mlm": n_masked}
