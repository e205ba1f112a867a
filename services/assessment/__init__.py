"""Assessment service: self-assessment (tự đánh giá) of a unit-year against the criteria."""
