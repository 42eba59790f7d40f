"""Feature transforms of the reference method (handbook §2): pure `DataFrame -> DataFrame` functions and
`Column` helpers, chained with `.transform(...)`. No reads, writes, actions or sessions here."""
from features.calendar import is_night, is_weekend, with_calendar_flags
from features.windows import with_customer_spending_windows, with_terminal_risk

__all__ = ["is_night", "is_weekend", "with_calendar_flags", "with_customer_spending_windows", "with_terminal_risk"]
