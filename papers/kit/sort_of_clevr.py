r"""
---
title: Sort-of-CLEVR from state descriptions
summary: Scenes of coloured squares and circles, relational and non-relational questions about them, and
  their answers computed exactly.
---

# Sort-of-CLEVR from state descriptions

[Santoro et al. (2017)](https://arxiv.org/abs/1706.01427) built *Sort-of-CLEVR* to separate relational
reasoning from everything else: each scene holds six objects, one of each colour, each a square or a circle,
at a random place; each question names a colour and asks either about that object alone
(*non-relational*) or about it in relation to the others (*relational*). The paper renders scenes as
images; here, as in its "state description" experiments, a scene is given as the list of its objects'
states, so the model sees exactly what each object is and nothing has to be learned about pixels.

An object's state is a vector of 10 numbers: its colour one-hot (6), its shape one-hot (2) and its position
$(x, y) \in [0, 1]^2$ (centred and scaled, below). By default the objects come in a random order, so a model
cannot find "the red one" by its slot: it has to read the colour; `shuffled=False` lists them in the fixed
order of `COLOURS` instead, the easiest case for a model that reads objects by slot (an MLP on their
concatenation).

A question is a vector of 12 numbers: the colour it asks about, one-hot (6), and the question's kind,
one-hot (6). The six kinds, the first three non-relational and the last three relational:

| kind | question | answers |
|---|---|---|
| `shape` | what is the shape of the *c* object? | square, circle |
| `left` | is the *c* object on the left ($x < 0.5$)? | yes, no |
| `top` | is the *c* object at the top ($y < 0.5$, image coordinates)? | yes, no |
| `closest` | what is the shape of the object closest to the *c* one? | square, circle |
| `farthest` | what is the shape of the object farthest from the *c* one? | square, circle |
| `count` | how many objects have the same shape as the *c* one (itself included)? | 1 … 6 |

Every answer is one of ten classes, `ANSWERS`; it is computed exactly from the scene, by distances and
counts, so the data set has no label noise. Distances between objects are continuous, so ties for closest or
farthest happen with probability zero.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from papers.kit.checks import check_ids, check_positive, check_tensor

COLOURS = ("red", "green", "blue", "orange", "grey", "yellow")
SHAPES = ("square", "circle")
KINDS = ("shape", "left", "top", "closest", "farthest", "count")
NON_RELATIONAL = KINDS[:3]
RELATIONAL = KINDS[3:]
ANSWERS = ("yes", "no", "square", "circle", "1", "2", "3", "4", "5", "6")

OBJECT_DIM = len(COLOURS) + len(SHAPES) + 2
QUESTION_DIM = len(COLOURS) + len(KINDS)

# Offsets into `ANSWERS`: "yes" is 0 and "no" 1; a shape $s$ is `SHAPE_ANSWER + s`; a count $k$ is
# `COUNT_ANSWER + k - 1`.
YES, NO = 0, 1
SHAPE_ANSWER = 2
COUNT_ANSWER = 4


# ## A batch of scenes
#
# `colours[b, i]` is the colour index of object `i` of scene `b` (the objects of a scene have distinct
# colours, in random order), `shapes[b, i]` its shape index and `positions[b, i]` its $(x, y)$.
@dataclass
class Scenes:
    colours: torch.Tensor    # [batch, objects], int64
    shapes: torch.Tensor     # [batch, objects], int64
    positions: torch.Tensor  # [batch, objects, 2], float

    def __post_init__(self) -> None:
        sizes = check_tensor("colours", self.colours, ["batch", "objects"], dtype=torch.long)
        check_tensor("shapes", self.shapes, ["batch", "objects"], dtype=torch.long, sizes=sizes)
        check_tensor("positions", self.positions, ["batch", "objects", 2], sizes=sizes)

    @property
    def batch_size(self) -> int:
        return self.colours.shape[0]

    @property
    def objects(self) -> int:
        return self.colours.shape[1]


def random_scenes(batch_size: int, generator: torch.Generator, objects: int = len(COLOURS),
                  shuffled: bool = True) -> Scenes:
    check_positive("batch_size", batch_size, integer=True)
    if not 2 <= objects <= len(COLOURS):
        raise ValueError(f"objects must be between 2 and {len(COLOURS)}, got {objects}")
    # A random permutation of the colours per scene, cut to `objects`: distinct colours in random order,
    # or, with `shuffled=False`, the same colours sorted, so that slots come in the order of `COLOURS`.
    colours = torch.rand(batch_size, len(COLOURS), generator=generator).argsort(dim=1)[:, :objects]
    if not shuffled:
        colours = colours.sort(dim=1).values
    shapes = torch.randint(0, len(SHAPES), (batch_size, objects), generator=generator)
    positions = torch.rand(batch_size, objects, 2, generator=generator)
    return Scenes(colours, shapes, positions)


# ## Encoding
#
# Objects as state vectors `[batch, objects, 10]`: colour one-hot, shape one-hot, and the position centred
# and stretched to $[-2, 2]^2$, $4\,(x - \tfrac12, y - \tfrac12)$. (With positions in $[0, 1]$, distances
# between objects are small next to the one-hot features; in our calibration the relation network learned the
# distance questions sooner with the wider range.)
POSITION_SCALE = 4.0


def check_float_dtype(dtype: torch.dtype) -> None:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")


def encode_objects(scenes: Scenes, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    check_float_dtype(dtype)
    colour = torch.nn.functional.one_hot(scenes.colours, len(COLOURS)).to(dtype)
    shape = torch.nn.functional.one_hot(scenes.shapes, len(SHAPES)).to(dtype)
    position = POSITION_SCALE * (scenes.positions.to(dtype) - 0.5)
    return torch.cat([colour, shape, position], dim=-1)


# Questions as vectors `[batch, 12]`: the colour asked about and the kind of question, both one-hot.
def encode_questions(colours: torch.Tensor, kinds: torch.Tensor,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    sizes = check_ids("colours", colours, ["batch"], len(COLOURS))
    check_ids("kinds", kinds, ["batch"], len(KINDS), sizes=sizes)
    check_float_dtype(dtype)
    colour = torch.nn.functional.one_hot(colours, len(COLOURS)).to(dtype)
    kind = torch.nn.functional.one_hot(kinds, len(KINDS)).to(dtype)
    return torch.cat([colour, kind], dim=-1)


# ## Answers, computed exactly
#
# First find the object each question is about: the one whose colour is asked. Then answer all six kinds of
# question for it, and pick the asked kind. For `closest` and `farthest`, the object itself is left out by
# giving its own distance $+\infty$ (for the minimum) or $-\infty$ (for the maximum).
def answers(scenes: Scenes, colours: torch.Tensor, kinds: torch.Tensor) -> torch.Tensor:
    if colours.shape != (scenes.batch_size,) or kinds.shape != (scenes.batch_size,):
        raise ValueError(f"colours {tuple(colours.shape)} and kinds {tuple(kinds.shape)} must be "
                         f"[batch] = ({scenes.batch_size},)")
    if ((kinds < 0) | (kinds >= len(KINDS))).any():
        raise ValueError(f"kinds must be in [0, {len(KINDS)}), got {kinds.tolist()}")
    matches = scenes.colours == colours[:, None]                            # [batch, objects]
    if not bool((matches.sum(dim=1) == 1).all()):
        raise ValueError("every question's colour must be the colour of exactly one object in its scene")
    subject = matches.long().argmax(dim=1)                                  # [batch]
    rows = torch.arange(scenes.batch_size)
    position = scenes.positions[rows, subject]                              # [batch, 2]
    shape = scenes.shapes[rows, subject]                                    # [batch]

    distance = (scenes.positions - position[:, None]).norm(dim=-1)          # [batch, objects]
    is_self = torch.nn.functional.one_hot(subject, scenes.objects).bool()
    closest = distance.masked_fill(is_self, float("inf")).argmin(dim=1)
    farthest = distance.masked_fill(is_self, float("-inf")).argmax(dim=1)
    same_shape = (scenes.shapes == shape[:, None]).sum(dim=1)               # [batch], itself included

    by_kind = torch.stack([
        SHAPE_ANSWER + shape,
        torch.where(position[:, 0] < 0.5, YES, NO),
        torch.where(position[:, 1] < 0.5, YES, NO),
        SHAPE_ANSWER + scenes.shapes[rows, closest],
        SHAPE_ANSWER + scenes.shapes[rows, farthest],
        COUNT_ANSWER + same_shape - 1,
    ], dim=1)                                                               # [batch, kinds]
    return by_kind[rows, kinds]


# ## A batch of questions and answers
#
# One question per scene: a random object's colour and a random kind, so every kind is equally frequent.
@dataclass
class QuestionBatch:
    objects: torch.Tensor    # [batch, objects, 10]
    questions: torch.Tensor  # [batch, 12]
    answers: torch.Tensor    # [batch], int64 index into ANSWERS
    kinds: torch.Tensor      # [batch], int64 index into KINDS


def question_batch(batch_size: int, generator: torch.Generator, objects: int = len(COLOURS),
                   dtype: torch.dtype = torch.float32, shuffled: bool = True) -> QuestionBatch:
    scenes = random_scenes(batch_size, generator, objects, shuffled)
    subject = torch.randint(0, objects, (batch_size,), generator=generator)
    colours = scenes.colours[torch.arange(batch_size), subject]
    kinds = torch.randint(0, len(KINDS), (batch_size,), generator=generator)
    return QuestionBatch(objects=encode_objects(scenes, dtype),
                         questions=encode_questions(colours, kinds, dtype),
                         answers=answers(scenes, colours, kinds), kinds=kinds)
