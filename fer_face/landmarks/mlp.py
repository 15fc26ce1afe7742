"""The landmark branch's default classifier: a small MLP on standardised geometric features."""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fer_core.errors import UserError

LOG_EVERY = 10  # epochs between log lines when there is no progress bar


class LandmarkMLP(nn.Module):
    def __init__(self, in_features: int, num_classes: int, hidden: list[int], dropout: float = 0.3,
                 input_dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = [nn.Dropout(input_dropout)] if input_dropout > 0 else []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LayerNorm(h), nn.GELU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPEnsemble(nn.Module):
    """Independently seeded MLPs whose logits are averaged (a deep ensemble): steadier and better
    calibrated than any one member on FER2013's noisy labels."""

    def __init__(self, members: list[LandmarkMLP]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)


def build_mlp(cfg: dict[str, Any], in_features: int, num_classes: int) -> nn.Module:
    def member() -> LandmarkMLP:
        return LandmarkMLP(in_features, num_classes, list(cfg["hidden"]), cfg["dropout"], cfg["input_dropout"])

    members = int(cfg.get("members", 1))
    return member() if members == 1 else MLPEnsemble([member() for _ in range(members)])


def train_mlp_ensemble(cfg: dict[str, Any], *args: Any, **kwargs: Any) -> tuple[nn.Module, list[dict[str, Any]], list[int]]:
    """``cfg["members"]`` MLPs trained by :func:`train_mlp` with seeds ``seed, seed + 1, ...``.

    Returns the model (one MLP, or their :class:`MLPEnsemble`), the history averaged over members epoch
    by epoch, and each member's selected epoch.
    """
    members = int(cfg.get("members", 1))
    if members < 1:
        raise UserError(f"mlp.members = {members}: must be at least 1")
    nets, histories, best_epochs = [], [], []
    for k in range(members):
        if members > 1:
            print(f"member {k + 1}/{members} (seed {int(cfg['seed']) + k})", file=sys.stderr, flush=True)
        net, history, best = train_mlp({**cfg, "seed": int(cfg["seed"]) + k}, *args, **kwargs)
        nets.append(net)
        histories.append(history)
        best_epochs.append(best)
    if members == 1:
        return nets[0], histories[0], best_epochs
    history = [{key: value if key == "epoch" else float(np.mean([h[i][key] for h in histories]))
                for key, value in row.items()} for i, row in enumerate(histories[0])]
    return MLPEnsemble(nets).eval(), history, best_epochs


@torch.no_grad()
def mlp_logits(model: nn.Module, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """(N, D) standardised features -> (N, C) float64 logits."""
    model.eval()
    xt = torch.as_tensor(np.asarray(x, np.float32))
    out = [model(xt[s:s + batch_size]) for s in range(0, len(xt), batch_size)]
    return torch.cat(out).double().numpy() if out else np.zeros((0, 0))


def train_mlp(cfg: dict[str, Any], x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
              *, x_train_mirror: np.ndarray | None = None, x_val_mirror: np.ndarray | None = None,
              num_classes: int, progress: bool = True) -> tuple[LandmarkMLP, list[dict[str, Any]], int]:
    """Train on (x_train, y_train); keep the epoch with the best validation accuracy.

    ``*_mirror`` are the features of the mirrored faces: with ``mirror_augment`` each training sample is
    replaced by its mirror with probability 1/2; validation logits average both views when given.
    Returns (model with the best epoch's weights, history, best epoch).
    """
    from tqdm.auto import tqdm

    seed = int(cfg["seed"])
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build_mlp({**cfg, "members": 1}, x_train.shape[1], num_classes)
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg["lr"])
    xt = torch.as_tensor(np.asarray(x_train, np.float32))
    xm = torch.as_tensor(np.asarray(x_train_mirror, np.float32)) if x_train_mirror is not None else None
    yt = torch.as_tensor(np.asarray(y_train, np.int64))
    bs = int(cfg["batch_size"])
    steps = max(1, len(yt) // bs)
    epochs = int(cfg["epochs"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=epochs * steps, pct_start=0.1)
    history: list[dict[str, Any]] = []
    best_acc, best_epoch, best_state = -1.0, 0, None
    bar = tqdm(range(epochs), desc="mlp", unit="epoch", disable=not progress, file=sys.stderr, mininterval=0.5)
    for epoch in bar:
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(len(yt), generator=gen)[: steps * bs].view(steps, bs)
        loss_sum, correct = 0.0, 0
        for idx in order:
            xb = xt[idx]
            if xm is not None and cfg["mirror_augment"]:
                flip = torch.rand(len(idx), generator=gen) < 0.5
                xb = torch.where(flip[:, None], xm[idx], xb)
            if cfg["noise_std"] > 0:
                xb = xb + cfg["noise_std"] * torch.randn(xb.shape, generator=gen)
            yb = yt[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=cfg["label_smoothing"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(yb)
            correct += int((logits.argmax(1) == yb).sum())
        seconds = time.perf_counter() - t0
        val_logits = mlp_logits(model, x_val)
        if x_val_mirror is not None:
            val_logits = (val_logits + mlp_logits(model, x_val_mirror)) / 2
        val_loss = float(F.cross_entropy(torch.from_numpy(val_logits), torch.as_tensor(y_val)).item())
        val_acc = float((val_logits.argmax(1) == y_val).mean())
        seen = steps * bs
        history.append({"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
                        "val_loss": val_loss, "val_acc": val_acc, "lr": opt.param_groups[0]["lr"],
                        "epoch_time_s": round(seconds, 3), "train_samples_per_s": round(seen / seconds, 1)})
        if val_acc > best_acc:
            best_acc, best_epoch = val_acc, epoch + 1
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}", val_acc=f"{val_acc:.3f}", best=f"{best_acc:.3f}@{best_epoch}")
        if not progress and ((epoch + 1) % LOG_EVERY == 0 or epoch + 1 == epochs):
            print(f"epoch {epoch + 1:3d}/{epochs}  train loss {loss_sum / seen:.4f} acc {correct / seen:.4f}  "
                  f"val loss {val_loss:.4f} acc {val_acc:.4f}  best {best_acc:.4f} @ {best_epoch}",
                  file=sys.stderr, flush=True)
    bar.close()
    assert best_state is not None
    model.load_state_dict(best_state)
    model.eval()
    return model, history, best_epoch
