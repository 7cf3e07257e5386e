"""Order files as the team's partners send them: CSV with a header, one order line per row."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal

HEADER = "order_id,sku,quantity,unit_price\n"


@dataclass(frozen=True)
class Order:
    """One order with its lines (sku, quantity, unit price as written in the file)."""

    order_id: str
    lines: tuple[tuple[str, int, str], ...]

    @classmethod
    def new(cls, *lines: tuple[str, int, str]) -> Order:
        """A fresh order id, so tests sharing the table never see each other's items."""
        return cls(f"ORD-{secrets.token_hex(5)}", lines or (("SKU-RED-MUG", 2, "9.90"), ("SKU-TEAPOT", 1, "34.50")))

    def csv(self, *extra_rows: str) -> str:
        rows = [f"{self.order_id},{sku},{quantity},{price}" for sku, quantity, price in self.lines]
        return HEADER + "".join(f"{row}\n" for row in (*rows, *extra_rows))

    def expected(self) -> list[tuple[str, Decimal, Decimal]]:
        """(sku, quantity, unit_price) of each line, ordered by sku as the table's sort key orders them."""
        return sorted((sku, Decimal(quantity), Decimal(price)) for sku, quantity, price in self.lines)


def lines_of(items: list[dict[str, object]]) -> list[tuple[object, object, object]]:
    """The (sku, quantity, unit_price) of items read back from the table."""
    return [(item["sku"], item["quantity"], item["unit_price"]) for item in items]
