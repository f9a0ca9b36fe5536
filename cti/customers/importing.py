"""CSV files of customers, orders and agents to validated rows, and the per-row error report.

Pure: it reads lines someone else opened and returns values; `cti.db.bulk` writes them.
Files are UTF-8 (a BOM is fine: open with `utf-8-sig`); the delimiter is `,`, or `;` (Russian
Excel), or a tab, told apart by which one splits the header into known column names.
Rows are numbered as a spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cti.customers import fields as f
from cti.customers.audit import changes_between
from cti.customers.model import CUSTOMER_DEFAULTS, Order, Phone, with_values

CUSTOMER_COLUMNS = (
    "external_id",
    "name",
    "company",
    "phones",
    "vip",
    "timezone",
    "manager_login",
    "crm_url",
)
ORDER_COLUMNS = ("external_id", "order_number", "date", "status", "amount", "currency")
AGENT_COLUMNS = (
    "login",
    "name",
    "role",
    "extension",
    "device",
    "mobile",
    "teams",
    "seniority",
    "max_calls",
)
_DELIMITERS = (",", ";", "\t")


class FileError(ValueError):
    """The file as a whole cannot be imported (no header, unknown columns...): nothing is written."""


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one row was skipped."""

    row: int  #: as a spreadsheet numbers it: the header is row 1
    field: str  #: the column at fault ("" for the row as a whole)
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class CustomerInput:
    """Validated values for the customer fields a writer gave; the others stay as they are."""

    values: Mapping[str, Any]  #: among name, company, phones, vip, timezone, manager_login, ...
    orders: tuple[Order, ...] = ()  #: added or replaced by order number
    row: int = 0  #: where it came from (CSV row, or index in a bulk request)

    @property
    def external_id(self) -> str | None:
        value = self.values.get("external_id")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class OrderInput:
    external_id: str
    order: Order
    row: int = 0


@dataclass(frozen=True, slots=True)
class AgentInput:
    values: Mapping[str, Any]  #: every agent field
    row: int = 0

    @property
    def login(self) -> str:
        return str(self.values["login"])


@dataclass(frozen=True)
class Table:
    """A CSV file's header and its records, numbered."""

    columns: tuple[str, ...]
    delimiter: str
    records: Iterator[tuple[int, dict[str, str]]] = field(repr=False)


def read_table(lines: Iterable[str], *, known: Sequence[str], required: Sequence[str]) -> Table:
    """The header (delimiter detected from it) and an iterator of (row number, cells by column)."""
    it = iter(lines)
    first = next(it, None)
    while first is not None and not first.strip():
        first = next(it, None)
    if first is None:
        raise FileError("the file is empty; the first line must be a header: " + ",".join(known))
    delimiter, columns = _header(first.lstrip("\ufeff"), known)
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise FileError(
            f"unknown column(s) {', '.join(map(repr, unknown))}; the columns are: {','.join(known)}"
        )
    missing = [c for c in required if c not in columns]
    if missing:
        raise FileError(f"the header lacks the column(s) {', '.join(missing)}")
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise FileError(f"column(s) {', '.join(duplicated)} appear twice in the header")
    reader = csv.reader(itertools.chain([first], it), delimiter=delimiter)
    next(reader)  # the header, already read
    return Table(columns, delimiter, _records(reader, columns))


def _header(line: str, known: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    best: tuple[int, str, tuple[str, ...]] | None = None
    for delimiter in _DELIMITERS:
        cells = next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter), [])
        columns = tuple(c.strip().strip("\ufeff").lower() for c in cells)
        score = sum(1 for c in columns if c in known)
        if best is None or score > best[0]:
            best = (score, delimiter, columns)
    assert best is not None
    if best[0] == 0:
        raise FileError(
            "the first line is not a header of known columns; expected: " + ",".join(known)
        )
    return best[1], best[2]


def _records(
    reader: Iterator[list[str]], columns: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    number = 1
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a NUL byte, an unclosed quote at the end, a huge cell
            raise FileError(f"row {number}: the file is not valid CSV here ({exc})") from None
        if not cells or all(not c.strip() for c in cells):
            continue  # a blank line
        if len(cells) > len(columns):
            extra = ",".join(cells[len(columns) :]).strip()
            if extra.strip(",;\t "):
                yield number, {"": f"{len(cells)} cells but {len(columns)} columns in the header"}
                continue
        yield number, dict(zip(columns, cells, strict=False))


# --- rows to values -----------------------------------------------------------------------------

Validated = Any  # CustomerInput | OrderInput | AgentInput


def customer_row(row: int, cells: Mapping[str, str], rules: f.Rules) -> CustomerInput:
    """A customers.csv row; raises FieldError. Columns absent from the file are left alone."""
    values: dict[str, Any] = {
        "external_id": f.text(
            "external_id", cells.get("external_id"), max_len=f.EXTERNAL_ID_MAX, required=True
        ),
        "name": f.text("name", cells.get("name"), max_len=f.NAME_MAX, required=True),
    }
    if "company" in cells:
        values["company"] = f.text("company", cells["company"], max_len=f.COMPANY_MAX)
    if "phones" in cells:
        values["phones"] = f.phones(f.split_list(cells["phones"]), rules.region)
    if "vip" in cells:
        values["vip"] = f.flag("vip", cells["vip"])
    if "timezone" in cells:
        values["timezone"] = f.timezone(cells["timezone"], rules.zones)
    if "manager_login" in cells:
        values["manager_login"] = f.manager(cells["manager_login"], rules.managers)
    if "crm_url" in cells:
        values["crm_url"] = f.url(cells["crm_url"])
    return CustomerInput(values, row=row)


def order_row(row: int, cells: Mapping[str, str], rules: f.Rules) -> OrderInput:
    external_id = f.text(
        "external_id", cells.get("external_id"), max_len=f.EXTERNAL_ID_MAX, required=True
    )
    order = Order(
        number=f.text(
            "order_number", cells.get("order_number"), max_len=f.ORDER_NUMBER_MAX, required=True
        ),
        date=f.order_date(cells.get("date")),
        status=f.text("status", cells.get("status"), max_len=f.STATUS_MAX),
        amount=f.amount(cells.get("amount")),
        currency=f.currency(cells.get("currency")),
    )
    return OrderInput(external_id, order, row)


def agent_row(row: int, cells: Mapping[str, str], rules: f.Rules) -> AgentInput:
    role = f.role(cells.get("role"))
    ext = f.extension(cells.get("extension"), role=role)
    values = {
        "login": f.login(cells.get("login")),
        "name": f.text("name", cells.get("name"), max_len=f.NAME_MAX, required=True),
        "role": role,
        "extension": ext,
        "device": f.device(cells.get("device"), ext),
        "mobile": f.mobile(cells.get("mobile"), rules.region),
        "teams": f.teams(f.split_list(cells.get("teams") or "")),
        "seniority": f.whole("seniority", cells.get("seniority"), low=0, high=1000, default=0),
        "max_calls": f.whole("max_calls", cells.get("max_calls"), low=1, high=100, default=1),
    }
    return AgentInput(values, row)


RowReader = Callable[[int, Mapping[str, str], f.Rules], Validated]


@dataclass(frozen=True)
class Kind:
    """One kind of CSV file: its columns and how a row becomes values."""

    name: str
    columns: tuple[str, ...]
    required: tuple[str, ...]
    read_row: RowReader
    key: Callable[[Validated], str]  #: a row's identity: a second row with it is refused


CUSTOMERS = Kind(
    "customers", CUSTOMER_COLUMNS, ("external_id", "name"), customer_row, lambda v: v.external_id
)
ORDERS = Kind(
    "orders",
    ORDER_COLUMNS,
    ("external_id", "order_number", "date", "amount", "currency"),
    order_row,
    lambda v: f"{v.external_id}\x00{v.order.number}",
)
#: `extension` is a column of every agents file; a supervisor's or an administrator's may be empty
AGENTS = Kind("agents", AGENT_COLUMNS, ("login", "name"), agent_row, lambda v: v.login)
KINDS = {k.name: k for k in (CUSTOMERS, ORDERS, AGENTS)}


def validate_rows(
    kind: Kind, records: Iterable[tuple[int, Mapping[str, str]]], rules: f.Rules
) -> tuple[list[Validated], list[RowError]]:
    """Values of the good rows and the errors of the others (one error per bad row)."""
    good: list[Validated] = []
    bad: list[RowError] = []
    for number, cells in records:
        if "" in cells:
            bad.append(RowError(number, "", cells[""]))
            continue
        try:
            good.append(kind.read_row(number, cells, rules))
        except f.FieldError as exc:
            bad.append(RowError(number, exc.field, exc.reason))
    return good, bad


#: columns of a new customer's row, in the order of `Prepared.columns`
CREATE_COLUMNS = ("external_id", "name", "company", "vip", "timezone", "manager_login", "crm_url")


class Prepared(NamedTuple):
    """A valid customers.csv row ready to write: the values given (for an update), and for a
    creation the row's columns, phones and audit entry, computed where the row was validated
    (a worker process). Plain tuples: cheap to send between processes."""

    row: int
    external_id: str
    values: tuple[tuple[str, Any], ...]  #: phones as (e164, raw, nsn, valid) tuples
    columns: tuple[Any, ...]  #: CREATE_COLUMNS of the customer if new
    phones: tuple[tuple[str, str, str, bool], ...]
    audit: str  #: the creation's changes, JSON

    def to_input(self) -> CustomerInput:
        values = dict(self.values)
        if "phones" in values:
            values["phones"] = tuple(Phone(*p) for p in values["phones"])
        return CustomerInput(values, row=self.row)


def prepare(item: CustomerInput) -> Prepared:
    new = with_values(None, item.values)
    entry = changes_between(None, new.audited(), CUSTOMER_DEFAULTS)
    phones = tuple((p.e164, p.raw, p.nsn, p.valid) for p in new.phones)
    values = tuple((k, phones if k == "phones" else v) for k, v in item.values.items())
    columns = tuple(getattr(new, c) for c in CREATE_COLUMNS)
    audit = json.dumps({k: [old, value] for k, (old, value) in entry.items()}, ensure_ascii=False)
    return Prepared(item.row, new.external_id or "", values, columns, phones, audit)


def validate_chunk(
    kind_name: str, records: Sequence[tuple[int, Mapping[str, str]]], rules: f.Rules
) -> tuple[list[Validated], list[RowError]]:
    """validate_rows by kind name, customers `prepare`d: what a worker process runs (plain,
    picklable arguments and results)."""
    good, bad = validate_rows(KINDS[kind_name], records, rules)
    if kind_name == CUSTOMERS.name:
        return [prepare(item) for item in good], bad
    return good, bad


class Deduplicator:
    """Refuses a row whose key (external id, login, order) an earlier row of the file had."""

    def __init__(self, kind: Kind) -> None:
        self._key = kind.key
        self._seen: dict[str, int] = {}
        self._field = {"customers": "external_id", "agents": "login", "orders": "order_number"}[
            kind.name
        ]

    def __call__(self, rows: list[Validated]) -> tuple[list[Validated], list[RowError]]:
        good: list[Validated] = []
        bad: list[RowError] = []
        for value in rows:
            key = self._key(value)
            first = self._seen.setdefault(key, value.row)
            if first != value.row:
                bad.append(
                    RowError(
                        value.row, self._field, f"the same as row {first}; row {first} was kept"
                    )
                )
            else:
                good.append(value)
        return good, bad


__all__ = [
    "AGENTS",
    "CREATE_COLUMNS",
    "AGENT_COLUMNS",
    "CUSTOMERS",
    "CUSTOMER_COLUMNS",
    "KINDS",
    "ORDERS",
    "ORDER_COLUMNS",
    "AgentInput",
    "CustomerInput",
    "Deduplicator",
    "FileError",
    "Kind",
    "OrderInput",
    "Prepared",
    "RowError",
    "Table",
    "prepare",
    "read_table",
    "validate_chunk",
    "validate_rows",
]
