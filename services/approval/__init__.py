"""Approval service: review (thẩm định) and recognition (công nhận) of unit-years, level by level."""
