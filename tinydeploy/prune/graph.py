"""The chain of prunable layers and how one layer's output channels feed the next.

Channel pruning, LAP and ThiNet need to know which inputs of layer i+1 read output channel c
of layer i. tinydeploy supports chain models (TinyNet and similar): prunable layers in
registration order, each feeding the next through element-wise ops, pooling and flatten.
Conv -> Conv and Linear -> Linear connect channel c to input c; Conv -> Flatten -> Linear
connects channel c to the `in_features / out_channels` consecutive inputs of channel c
(NCHW flatten order). A depthwise conv (groups == channels, depth multiplier 1) computes its
channel c from input channel c alone: its channels are tied to its producer's (a `depthwise`
link), so removing the producer's channel c removes the depthwise channel c and the next
layer's input c as well.

A model whose class sets `is_chain = False` (ResNet-8: residual adds) is refused by name; other
models are checked by layer shapes only.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from tinydeploy.errors import TinydeployError
from tinydeploy.prune.masks import prunable_layers


@dataclass(frozen=True)
class Link:
    """Output channels of `producer` feeding `consumer`: channel c -> inputs
    [c * group, (c + 1) * group) of the consumer's input dimension (dim 1 of its weight)."""

    producer: str
    consumer: str
    group: int  # consumer inputs per producer channel (1, or H*W after a flatten)
    depthwise: bool = False  # consumer is depthwise: producer channel c -> consumer channel c


def is_depthwise(layer: nn.Module) -> bool:
    """A depthwise conv with depth multiplier 1 (one filter per input channel)."""
    return (isinstance(layer, nn.Conv2d) and layer.groups > 1
            and layer.groups == layer.in_channels == layer.out_channels)


def out_channels(layer: nn.Module) -> int:
    return layer.out_channels if isinstance(layer, nn.Conv2d) else layer.out_features


def in_channels(layer: nn.Module) -> int:
    return layer.in_channels if isinstance(layer, nn.Conv2d) else layer.in_features


def chain_links(model: nn.Module) -> list[Link]:
    """Links between consecutive prunable layers; raise if the model is not a simple chain."""
    if getattr(model, "is_chain", True) is False:
        raise TinydeployError(
            f"{type(model).__name__} is not a chain model (residual connections): channel "
            "pruning, LAP and ThiNet need one; use unstructured or N:M granularity")
    layers = list(prunable_layers(model).items())
    links = []
    for (pname, prod), (cname, cons) in itertools.pairwise(layers):
        n_out, n_in = out_channels(prod), in_channels(cons)
        if is_depthwise(cons) and n_in == n_out:
            links.append(Link(pname, cname, 1, depthwise=True))
            continue
        if isinstance(cons, nn.Conv2d) and getattr(cons, "groups", 1) != 1:
            raise TinydeployError(
                f"{cname}: grouped convolutions (groups={cons.groups}) other than depthwise "
                "(groups == channels) are not supported here")
        if n_in == n_out:
            group = 1
        elif isinstance(prod, nn.Conv2d) and isinstance(cons, nn.Linear) and n_in % n_out == 0:
            group = n_in // n_out
        else:
            raise TinydeployError(
                f"cannot connect {pname} ({n_out} outputs) to {cname} ({n_in} inputs): "
                "structured pruning and LAP need a chain model (layers in forward order)"
            )
        links.append(Link(pname, cname, group))
    return links


def tied_layers(links: list[Link]) -> dict[str, str]:
    """Depthwise layer -> the non-depthwise layer whose channels it follows (through any
    chain of depthwise layers)."""
    owner: dict[str, str] = {}
    for link in links:
        if link.depthwise:
            owner[link.consumer] = owner.get(link.producer, link.producer)
    return owner


def consumer_of(model: nn.Module) -> dict[str, Link]:
    return {link.producer: link for link in chain_links(model)}


def producer_of(model: nn.Module) -> dict[str, Link]:
    return {link.consumer: link for link in chain_links(model)}


def input_columns(link: Link, channels: Tensor) -> Tensor:
    """Consumer input indices read from the given producer channels."""
    offsets = torch.arange(link.group)
    return (channels[:, None] * link.group + offsets[None, :]).reshape(-1)


def consumer_view(weight: Tensor, link: Link) -> Tensor:
    """Consumer weight as (out, producer_channels, rest): the slice [:, c] is everything that
    reads producer channel c (for a depthwise consumer: its row c, as (1, channels, k*k))."""
    if link.depthwise:
        return weight.reshape(1, weight.shape[0], -1)
    out = weight.shape[0]
    n_channels = weight.shape[1] // link.group
    return weight.reshape(out, n_channels, -1)
