"""LLM prices: USD per million input and output tokens, per model.

Estimates are deliberately pessimistic: a model the table does not know is
priced at the most expensive rates in it, so a misnamed model can never slip
under a session's ceiling.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from aos_common.errors import InvalidArgument

MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Price:
    input_per_mtok: Decimal
    output_per_mtok: Decimal

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        return (self.input_per_mtok * input_tokens + self.output_per_mtok * output_tokens) / MILLION


def _price(input_rate: float, output_rate: float) -> Price:
    return Price(Decimal(str(input_rate)), Decimal(str(output_rate)))


DEFAULT_PRICES: dict[str, Price] = {
    "aos-scripted": _price(3.0, 15.0),
    "claude-opus-4": _price(15.0, 75.0),
    "claude-sonnet-4": _price(3.0, 15.0),
    "claude-3-5-haiku": _price(0.8, 4.0),
    "claude-haiku-4": _price(1.0, 5.0),
    "gpt-4.1": _price(2.0, 8.0),
    "gpt-4.1-mini": _price(0.4, 1.6),
    "gpt-4o": _price(2.5, 10.0),
    "gpt-4o-mini": _price(0.15, 0.6),
    "o3": _price(2.0, 8.0),
}


class PriceTable:
    def __init__(self, prices: Mapping[str, Price]):
        if not prices:
            raise ValueError("a price table needs at least one model")
        self._prices = dict(prices)
        self._fallback = Price(
            max(p.input_per_mtok for p in self._prices.values()),
            max(p.output_per_mtok for p in self._prices.values()),
        )

    @classmethod
    def load(cls, path: Path | None) -> PriceTable:
        """Defaults, overridden model by model by the JSON file at `path`:
        `{"model": {"input_per_mtok": 3.0, "output_per_mtok": 15.0}}`."""
        prices = dict(DEFAULT_PRICES)
        if path is not None:
            try:
                raw = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(f"price table {path}: {exc}") from exc
            prices.update(parse_prices(raw))
        return cls(prices)

    def price(self, model: str) -> Price:
        """Exact name, else the longest known prefix (dated model names), else the fallback."""
        if model in self._prices:
            return self._prices[model]
        prefixes = [name for name in self._prices if model.startswith(name + "-")]
        if prefixes:
            return self._prices[max(prefixes, key=len)]
        return self._fallback

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> Decimal:
        if input_tokens < 0 or output_tokens < 0:
            raise InvalidArgument("token counts cannot be negative")
        return self.price(model).cost(input_tokens, output_tokens)


def parse_prices(raw: object) -> dict[str, Price]:
    if not isinstance(raw, dict):
        raise ValueError("price table must be a JSON object of model -> rates")
    prices = {}
    for model, rates in raw.items():
        try:
            pin, pout = float(rates["input_per_mtok"]), float(rates["output_per_mtok"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"price for {model!r} needs numeric input_per_mtok and output_per_mtok") from exc
        if not all(math.isfinite(r) and r >= 0 for r in (pin, pout)):
            raise ValueError(f"price for {model!r} must be finite and not negative")
        prices[str(model)] = _price(pin, pout)
    return prices
