"""The Faust tables of each app and what they hold (DESIGN.md, Keys and partitions)."""
