r"""How fast our modules are beside their built-in twins in PyTorch and labml-nn's versions.

    .venv/bin/python scripts/bench_modules.py [--rounds 9] [--only lstm,rnn,sdpa,mha]

Each case times one forward and backward pass (`output.sum().backward()`) of every contender, in one
process, on one thread. The contenders take turns: a round runs each of them once, in order, and the table
shows the median over the rounds, so a burst of load from another process slows all of them alike. After one
warm-up round, it prints a table: the case, its size, the milliseconds of ours, of the built-in and of
labml-nn's module where there is one, and the ratios ours / built-in and ours / labml-nn (above 1: ours is
slower). `ours (fused)` is the fast path of our attention, which calls PyTorch's fused kernel.

On a shared, loaded machine the ratios move by 10 to 20% from run to run: compare ranges over several runs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from labml import tracker
from labml_nn.lstm import LSTM as LabmlLSTM
from labml_nn.transformers.mha import MultiHeadAttention as LabmlMHA
from torch import nn

from papers.rnn.char_rnn import RNN
from papers.rnn.lstm import LSTM
from papers.transformers.attention import MultiHeadAttention, scaled_dot_product_attention

# labml-nn 0.5.1 calls `labml.tracker.debug`, which labml 0.5.3 no longer has.
if not hasattr(tracker, "debug"):
    tracker.debug = lambda *args, **kwargs: None

# One forward and backward pass; returns nothing, only its time matters.
Contender = Callable[[], None]


@dataclass
class Case:
    name: str
    size: str
    contenders: dict[str, Contender]  # "ours", "ours (fused)", "built-in", "labml-nn"


def backward_of(forward: Callable[[], torch.Tensor]) -> Contender:
    def run() -> None:
        forward().sum().backward()
    return run


# ## The recurrent layers: batch 32, 100 steps, 256 → 256, one layer.

def lstm_case(batch: int = 32, length: int = 100, size: int = 256) -> Case:
    x = torch.randn(batch, length, size, requires_grad=True)  # [batch, seq, input]
    x_seq_first = x.detach().transpose(0, 1).contiguous().requires_grad_()  # [seq, batch, input] for labml-nn
    ours, builtin, labml = LSTM(size, size), nn.LSTM(size, size, batch_first=True), LabmlLSTM(size, size, 1)
    return Case("LSTM", f"{batch}x{length}, {size}->{size}", {
        "ours": backward_of(lambda: ours(x)[0]),
        "built-in": backward_of(lambda: builtin(x)[0]),
        "labml-nn": backward_of(lambda: labml(x_seq_first)[0]),
    })


def rnn_case(batch: int = 32, length: int = 100, size: int = 256) -> Case:
    x = torch.randn(batch, length, size, requires_grad=True)
    ours, builtin = RNN(size, size), nn.RNN(size, size, batch_first=True)
    return Case("RNN (tanh)", f"{batch}x{length}, {size}->{size}", {
        "ours": backward_of(lambda: ours(x)[0]),
        "built-in": backward_of(lambda: builtin(x)[0]),
    })


# ## Attention: 16 sequences, 8 heads of 32 dimensions (d_model 256), a padding mask hiding the last eighth
# of every other sequence's keys.

def padding_mask(batch: int, length: int) -> torch.Tensor:
    mask = torch.ones(batch, 1, length, dtype=torch.bool)  # [batch, 1, k_len], True = may attend
    mask[::2, :, length - length // 8:] = False
    return mask


def sdpa_case(length: int, batch: int = 16, heads: int = 8, d_k: int = 32) -> Case:
    q, k, v = (torch.randn(batch, heads, length, d_k, requires_grad=True) for _ in range(3))
    mask = padding_mask(batch, length).unsqueeze(1)  # [batch, 1, 1, k_len]
    return Case("scaled dot-product attention", f"[{batch}, {heads}, {length}, {d_k}]", {
        "ours": backward_of(lambda: scaled_dot_product_attention(q, k, v, mask)[0]),
        "built-in": backward_of(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask)),
    })


def mha_case(length: int, batch: int = 16, heads: int = 8, d_model: int = 256) -> Case:
    x = torch.randn(batch, length, d_model, requires_grad=True)  # [batch, len, d_model]
    x_seq_first = x.detach().transpose(0, 1).contiguous().requires_grad_()
    mask = padding_mask(batch, length)  # [batch, 1, len]
    ours, fused = MultiHeadAttention(d_model, heads), MultiHeadAttention(d_model, heads)
    fused.fused = True
    builtin = nn.MultiheadAttention(d_model, heads, batch_first=True)
    labml = LabmlMHA(heads, d_model, dropout_prob=0.0)
    labml_mask = mask.permute(1, 2, 0)  # [1, k_len, batch]
    return Case("multi-head attention", f"{batch}x{length}, d={d_model}, h={heads}", {
        "ours": backward_of(lambda: ours(x, x, x, mask)),
        "ours (fused)": backward_of(lambda: fused(x, x, x, mask)),
        "built-in": backward_of(lambda: builtin(x, x, x, key_padding_mask=~mask[:, 0], need_weights=False)[0]),
        "labml-nn": backward_of(lambda: labml(query=x_seq_first, key=x_seq_first, value=x_seq_first,
                                              mask=labml_mask)),
    })


def cases(only: set[str]) -> list[Case]:
    builders = {"lstm": [lstm_case], "rnn": [rnn_case],
                "sdpa": [lambda: sdpa_case(128), lambda: sdpa_case(512)],
                "mha": [lambda: mha_case(128), lambda: mha_case(512)]}
    return [build() for key, group in builders.items() if key in only for build in group]


def milliseconds(contender: Contender) -> float:
    start = time.perf_counter()
    contender()
    return 1000 * (time.perf_counter() - start)


# Interleaved rounds: every contender once per round, the first round a warm-up; the median of the rest.
def median_times(case: Case, rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in case.contenders}
    for round_ in range(rounds + 1):
        for name, contender in case.contenders.items():
            elapsed = milliseconds(contender)
            if round_ > 0:
                times[name].append(elapsed)
    return {name: statistics.median(values) for name, values in times.items()}


def ratio(ours: float, other: float | None) -> str:
    return "-" if other is None else f"{ours / other:.2f}"


def table_rows(case: Case, times: dict[str, float]) -> list[list[str]]:
    builtin, labml = times["built-in"], times.get("labml-nn")
    rows = []
    for name in ("ours", "ours (fused)"):
        if name in times:
            rows.append([f"{case.name}, {name}", case.size, f"{times[name]:.1f}", f"{builtin:.1f}",
                         "-" if labml is None else f"{labml:.1f}", ratio(times[name], builtin),
                         ratio(times[name], labml)])
    return rows


def print_table(rows: list[list[str]]) -> None:
    header = ["module", "size", "ours ms", "built-in ms", "labml-nn ms", "ours/built-in", "ours/labml-nn"]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--only", default="lstm,rnn,sdpa,mha", help="comma-separated: lstm, rnn, sdpa, mha")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, 1 thread, median of {args.rounds} interleaved rounds, forward + backward; "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = []
    for case in cases(set(args.only.split(","))):
        rows += table_rows(case, median_times(case, args.rounds))
    print_table(rows)


if __name__ == "__main__":
    main()
