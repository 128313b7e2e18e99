"""The generic records API over any entity."""
